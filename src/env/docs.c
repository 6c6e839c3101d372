/*
 * The Environment document's field descriptions, for `slipway explain
 * environment` (spec/reference.h): the only place this prose lives in
 * code. tests/unit/test_spec_reference.c fails when a field of env.c's
 * tables has none here, or a path here names no field.
 */
#include "env.h"

const struct spec_ref_doc env_docs[] = {
	{"",
	 "An environment (dev, staging, prod...): an isolation boundary on one host. App names are "
	 "unique within it, its instances take their own ports, its routes stay within the addresses "
	 "it allows, and tokens can be scoped to it. Apps name it in metadata.environment; "
	 "\"default\" always exists and takes no document (docs/environments.md).", NULL},
	{"metadata.labels",
	 "Labels for `slipway get environments -l` (the rules of an App's labels).", NULL},
	{"spec", "What the environment's apps get and may use.", NULL},
	{"spec.ports",
	 "The ports its instances get, MIN-MAX (from 1024). The ranges of two environments may not "
	 "overlap, and instances of other environments never take a port in it.",
	 "the daemon's --port-range, shared with every environment without one"},
	{"spec.listen",
	 "Where its apps' routes may listen: addresses \"HOST:PORT\" or \"HOST:MIN-MAX\" (HOST an IP "
	 "address, localhost, or * for any host). An App whose route.listen (or previewListen) is "
	 "outside them is refused at apply.", "any address"},
	{"spec.windows",
	 "Sync windows: when a new revision of its apps may start. A window starts at every match of "
	 "its schedule and lasts its duration; deny wins, and with allow windows only their union "
	 "is open (Argo CD's rules). A new revision outside them waits (phase Waiting, the reason "
	 "says until when) and starts when they open; rollbacks, aborts, scale and deletes never "
	 "wait; `apply --override-window --reason TEXT` passes them, audited.", "always open"},
	{"spec.windows.kind", "allow or deny.", NULL},
	{"spec.windows.schedule",
	 "A five-field cron expression (minute hour day-of-month month day-of-week; names and "
	 "@daily-style macros too), in timeZone: when the window starts. Quote it.", NULL},
	{"spec.windows.duration", "How long each start lasts, at least 1m (elapsed time).", NULL},
	{"spec.windows.timeZone",
	 "The zone the schedule reads its wall clock in, as tzdata names it (Europe/Berlin).", "UTC"},
	{"spec.recipients",
	 "The age recipients (public keys, age1...) its valueFrom.age values are encrypted to: "
	 "`slipway secret encrypt -e ENV` encrypts to them, the daemon opens its values only with "
	 "its keys that are among them, and an App value that those keys cannot open is refused at "
	 "apply.", "the daemon's keys that no environment lists"},
	{"spec.promotion",
	 "Where the environment takes releases (an app's version) from, and the gates each passes on "
	 "the way: soak, analysis, approvals. A release that becomes Healthy upstream is promoted to "
	 "the apps of the same name here (docs/environments.md, \"Promotion\").", "none"},
	{"spec.promotion.from",
	 "The upstream environment. Chains may not close a cycle (prod from staging from prod).", NULL},
	{"spec.promotion.remote",
	 "The upstream environment is served by another host's Slipway: this daemon asks that "
	 "host's API for the upstream app's state (every 3 s) instead of looking on this host.",
	 "on this host"},
	{"spec.promotion.remote.api", "The other host's API, http:// or https:// (slipway serve "
	 "--api ADDR there).", NULL},
	{"spec.promotion.remote.tokenFile",
	 "An absolute path on this host to a token of the other host: a viewer scoped to the "
	 "upstream environment is enough (slipway token create NAME --role viewer -e staging).",
	 NULL},
	{"spec.promotion.automatic",
	 "Apply a release by itself once its gates passed; false waits for `slipway promote` too.", NULL},
	{"spec.promotion.soak",
	 "How long the release must be Healthy upstream, without a break, first.", NULL},
	{"spec.promotion.analysis",
	 "AnalysisTemplates run against the upstream app (its traffic, its revision) after the soak; "
	 "a failure stops the release here.", "none"},
	{"spec.promotion.analysis.name", "A label for the analysis.", NULL},
	{"spec.promotion.analysis.templates", "AnalysisTemplate names, as a canary step takes them.",
	 NULL},
	{"spec.promotion.analysis.args", "Values for the templates' args; names must be unique.", NULL},
	{"spec.promotion.analysis.args.name", "The argument's name.", NULL},
	{"spec.promotion.analysis.args.value", "The argument's value.", NULL},
	{"spec.promotion.approvals",
	 "Distinct approvers (`slipway approve`, a token with --approve for this environment) the "
	 "release needs; who caused it may not approve it. At most 16.", NULL},
	{"spec.promotion.approvalTimeout",
	 "An approval expires this long after it was given.", NULL},
	{NULL, NULL, NULL},
};
