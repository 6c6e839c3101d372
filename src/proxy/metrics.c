/* placeholder until the module lands */
typedef int sw_placeholder_metrics;
