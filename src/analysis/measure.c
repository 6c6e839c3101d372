/*
 * Measurement folding and the metric config reader. See measure.h for the
 * rules; the reason sentences are what users read in `slipway analysis`,
 * so they say the value, the condition, the outcome and the limit.
 */
#include "measure.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"

static const char *const phase_names[] = {
	[MEASURE_RUNNING] = "Running",           [MEASURE_SUCCESSFUL] = "Successful",
	[MEASURE_FAILED] = "Failed",             [MEASURE_INCONCLUSIVE] = "Inconclusive",
	[MEASURE_ERROR] = "Error",
};
#define NPHASES (sizeof(phase_names) / sizeof(phase_names[0]))

const char *measure_phase_name(enum measure_phase p)
{
	return (size_t)p < NPHASES ? phase_names[p] : "?";
}

int measure_phase_parse(const char *name)
{
	for (size_t i = 0; i < NPHASES; i++)
		if (strcmp(phase_names[i], name) == 0)
			return (int)i;
	return -1;
}

static const char *const nodata_names[] = {"inconclusive", "fail", "pass", NULL};

/* ------------------------------------------------------------------ */
/* Arguments                                                          */

static const json_t *arg_find(const json_t *args, const char *name, size_t len)
{
	size_t i;
	const json_t *a;
	if (!json_is_array(args))
		return NULL;
	json_array_foreach(args, i, a) {
		const char *n = json_string_value(json_object_get(a, "name"));
		if (n && strlen(n) == len && memcmp(n, name, len) == 0)
			return a;
	}
	return NULL;
}

int measure_args_substitute(char **out, const char *text, const json_t *args, struct sw_err *err)
{
	struct buf b = BUF_INIT;
	int rc = -1;
	const char *p = text;
	*out = NULL;
	for (;;) {
		const char *open = strstr(p, "{{");
		if (!open) {
			buf_adds(&b, p);
			break;
		}
		buf_add(&b, p, (size_t)(open - p));
		const char *close = strstr(open + 2, "}}");
		if (!close) {
			sw_errf(err, -1, "\"{{\" without \"}}\" in \"%s\"", text);
			goto out;
		}
		const char *s = open + 2, *e = close;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		int plen = (int)(close + 2 - open);
		if ((size_t)(e - s) <= 5 || strncmp(s, "args.", 5) != 0) {
			sw_errf(err, -1, "unknown placeholder \"%.*s\" (only {{args.NAME}} is known)", plen, open);
			goto out;
		}
		s += 5;
		const json_t *a = arg_find(args, s, (size_t)(e - s));
		if (!a) {
			sw_errf(err, -1, "unknown argument \"%.*s\" in \"%.*s\"", (int)(e - s), s, plen, open);
			goto out;
		}
		const char *v = json_string_value(json_object_get(a, "value"));
		if (!v) {
			sw_errf(err, -1, "argument \"%.*s\" has no value", (int)(e - s), s);
			goto out;
		}
		buf_adds(&b, v);
		p = close + 2;
	}
	*out = buf_detach(&b);
	rc = 0;
out:
	buf_release(&b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Config                                                             */

enum ftype { F_U32, F_DURATION };

/* The numeric fields of a metric: one row each, with the default used
 * when the (canonical) JSON leaves it out. */
static const struct {
	const char *key;
	enum ftype type;
	size_t off;
	uint64_t def;
} num_fields[] = {
	{"count", F_U32, offsetof(struct measure_config, count), 1},
	{"failureLimit", F_U32, offsetof(struct measure_config, failure_limit), 0},
	{"inconclusiveLimit", F_U32, offsetof(struct measure_config, inconclusive_limit), 0},
	{"consecutiveErrorLimit", F_U32, offsetof(struct measure_config, consecutive_error_limit), 4},
	{"minSamples", F_U32, offsetof(struct measure_config, min_samples), 0},
	{"interval", F_DURATION, offsetof(struct measure_config, interval_ms), 1000},
	{"initialDelay", F_DURATION, offsetof(struct measure_config, initial_delay_ms), 0},
};

static int read_condition(struct measure_config *c, const json_t *metric, const char *key, const json_t *args,
			  char **text_out, struct expr **expr_out, struct sw_err *err)
{
	const json_t *j = json_object_get(metric, key);
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_string(j))
		return sw_errf(err, -1, "metric \"%s\": %s must be a string", c->name, key);
	struct sw_err e2 = {0};
	if (measure_args_substitute(text_out, json_string_value(j), args, &e2) < 0)
		return sw_errf(err, -1, "metric \"%s\": %s: %s", c->name, key, e2.msg);
	if (expr_compile(expr_out, *text_out, &e2) < 0)
		return sw_errf(err, -1, "metric \"%s\": %s: %s", c->name, key, e2.msg);
	return 0;
}

int measure_config_from_json(struct measure_config *out, const json_t *metric, const json_t *args,
			     struct sw_err *err)
{
	memset(out, 0, sizeof(*out));
	out->interval_ms = 1000;
	if (!json_is_object(metric))
		return sw_errf(err, -1, "metric must be an object");
	const char *name = json_string_value(json_object_get(metric, "name"));
	if (!name || !*name)
		return sw_errf(err, -1, "metric: missing \"name\"");
	out->name = xstrdup(name);

	for (size_t i = 0; i < sizeof(num_fields) / sizeof(num_fields[0]); i++) {
		const json_t *j = json_object_get(metric, num_fields[i].key);
		uint64_t v = num_fields[i].def;
		if (num_fields[i].type == F_U32) {
			if (j && !json_is_null(j)) {
				if (!json_is_integer(j) || json_integer_value(j) < 0 ||
				    json_integer_value(j) > (json_int_t)UINT32_MAX)
					return sw_errf(err, -1, "metric \"%s\": %s must be an integer >= 0", name,
						       num_fields[i].key);
				v = (uint64_t)json_integer_value(j);
			}
			*(uint32_t *)((char *)out + num_fields[i].off) = (uint32_t)v;
		} else {
			if (j && !json_is_null(j) &&
			    (!json_is_string(j) || sw_duration_parse(json_string_value(j), &v) < 0))
				return sw_errf(err, -1, "metric \"%s\": %s must be a duration such as \"10s\"", name,
					       num_fields[i].key);
			*(uint64_t *)((char *)out + num_fields[i].off) = v;
		}
	}

	const json_t *nd = json_object_get(metric, "noData");
	if (nd && !json_is_null(nd)) {
		const char *s = json_string_value(nd);
		int k = -1;
		for (int i = 0; s && nodata_names[i]; i++)
			if (strcmp(s, nodata_names[i]) == 0)
				k = i;
		if (k < 0)
			return sw_errf(err, -1, "metric \"%s\": noData must be \"inconclusive\", \"fail\" or \"pass\"",
				       name);
		out->no_data = (enum measure_nodata)k;
	}

	if (read_condition(out, metric, "successCondition", args, &out->success_text, &out->success, err) < 0 ||
	    read_condition(out, metric, "failureCondition", args, &out->failure_text, &out->failure, err) < 0)
		return -1;

	const json_t *prov = json_object_get(metric, "provider");
	if (!json_is_object(prov) || json_object_size(prov) != 1)
		return sw_errf(err, -1, "metric \"%s\": provider must be an object with exactly one provider", name);
	const char *kind;
	json_t *settings;
	json_object_foreach((json_t *)prov, kind, settings) {
		out->provider_kind = xstrdup(kind);
		out->provider = json_incref(settings);
	}
	return 0;
}

void measure_config_release(struct measure_config *c)
{
	free(c->name);
	free(c->success_text);
	free(c->failure_text);
	expr_free(c->success);
	expr_free(c->failure);
	free(c->provider_kind);
	json_decref(c->provider);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------------ */
/* Folding                                                            */

void measure_run_init(struct measure_run *run)
{
	memset(run, 0, sizeof(*run));
	run->phase = MEASURE_RUNNING;
}

static enum measure_phase nodata_outcome(enum measure_nodata p)
{
	return p == MEASURE_NODATA_FAIL ? MEASURE_FAILED : p == MEASURE_NODATA_PASS ? MEASURE_SUCCESSFUL
										   : MEASURE_INCONCLUSIVE;
}

static void add_nodata(struct buf *b, const struct measure_config *cfg)
{
	static const char *const counted[] = {"inconclusive", "failed", "successful"};
	buf_addf(b, ": counted as %s (noData: %s)", counted[cfg->no_data], nodata_names[cfg->no_data]);
}

/* Decides a value by the conditions; fills outcome, the condition text and
 * the reason's middle part. */
static void judge_value(const struct measure_config *cfg, const struct expr_value *v, enum measure_phase *outcome,
			struct buf *cond, struct buf *reason)
{
	bool s = false, f = false;
	struct sw_err e = {0};
	if (cfg->failure && expr_eval_bool(cfg->failure, v, &f, &e) < 0) {
		buf_addf(cond, "failureCondition %s", cfg->failure_text);
		buf_addf(reason, ", failureCondition %s: %s", cfg->failure_text, e.msg);
		*outcome = MEASURE_ERROR;
		return;
	}
	if (cfg->success && expr_eval_bool(cfg->success, v, &s, &e) < 0) {
		buf_addf(cond, "successCondition %s", cfg->success_text);
		buf_addf(reason, ", successCondition %s: %s", cfg->success_text, e.msg);
		*outcome = MEASURE_ERROR;
		return;
	}
	if (cfg->failure && f) {
		buf_addf(cond, "failureCondition %s", cfg->failure_text);
		*outcome = MEASURE_FAILED;
	} else if (cfg->success && (s || !cfg->failure)) {
		buf_addf(cond, "successCondition %s", cfg->success_text);
		*outcome = s ? MEASURE_SUCCESSFUL : MEASURE_FAILED;
	} else if (cfg->failure && !cfg->success) {
		buf_addf(cond, "failureCondition %s", cfg->failure_text);
		*outcome = MEASURE_SUCCESSFUL;
	} else if (cfg->failure) { /* both written, neither true */
		buf_addf(reason, ", successCondition %s and failureCondition %s are both false", cfg->success_text,
			 cfg->failure_text);
		*outcome = MEASURE_INCONCLUSIVE;
		return;
	} else { /* no condition: a bool speaks for itself */
		*outcome = v->type == EXPR_BOOL && !v->b ? MEASURE_FAILED : MEASURE_SUCCESSFUL;
		buf_adds(reason, v->type == EXPR_BOOL ? "" : ", no condition to check");
		return;
	}
	buf_addf(reason, ", %s is %s", cond->s, (cfg->failure && f) || s ? "true" : "false");
}

static enum measure_phase next_phase(const struct measure_run *r, const struct measure_config *cfg)
{
	if (r->failed > cfg->failure_limit)
		return MEASURE_FAILED;
	if (r->inconclusive > cfg->inconclusive_limit)
		return MEASURE_INCONCLUSIVE;
	if (r->consecutive_errors > cfg->consecutive_error_limit)
		return MEASURE_ERROR;
	if (cfg->count > 0 && r->taken >= cfg->count)
		return MEASURE_SUCCESSFUL;
	return MEASURE_RUNNING;
}

/* A provider's message is cut here, so that one chatty error body cannot
 * bloat every stored record. */
#define DETAIL_MAX 300

int measure_fold(struct measure_record *out, struct measure_run *run, const struct measure_config *cfg,
		 const struct measure_input *in)
{
	memset(out, 0, sizeof(*out));
	out->number = NAN;
	if (run->phase != MEASURE_RUNNING)
		return SW_EINVAL;
	struct buf reason = BUF_INIT, cond = BUF_INIT, value = BUF_INIT;
	enum measure_phase outcome = MEASURE_ERROR;

	buf_adds(&reason, cfg->name);
	switch (in->kind) {
	case MEASURE_IN_ERROR:
		buf_addf(&reason, ": provider error: %.*s", DETAIL_MAX,
			 in->detail && *in->detail ? in->detail : "unknown error");
		break;
	case MEASURE_IN_NO_DATA:
		if (in->detail && *in->detail)
			buf_addf(&reason, ": no data (%.*s)", DETAIL_MAX, in->detail);
		else
			buf_adds(&reason, ": no data");
		outcome = nodata_outcome(cfg->no_data);
		add_nodata(&reason, cfg);
		break;
	case MEASURE_IN_VALUE:
		expr_value_format(&value, &in->value);
		out->value = xstrdup(value.s);
		if (in->value.type == EXPR_NUMBER)
			out->number = in->value.num;
		buf_addf(&reason, " = %s", value.s);
		if (cfg->min_samples > 0 && in->samples != MEASURE_SAMPLES_UNKNOWN && in->samples < cfg->min_samples) {
			buf_addf(&reason, " from %llu sample%s, fewer than minSamples %u", (unsigned long long)in->samples,
				 in->samples == 1 ? "" : "s", cfg->min_samples);
			outcome = nodata_outcome(cfg->no_data);
			add_nodata(&reason, cfg);
			break;
		}
		if (in->detail && *in->detail)
			buf_addf(&reason, " (%.*s)", DETAIL_MAX, in->detail);
		judge_value(cfg, &in->value, &outcome, &cond, &reason);
		break;
	}

	run->measured++;
	switch (outcome) {
	case MEASURE_SUCCESSFUL: run->successful++; break;
	case MEASURE_FAILED: run->failed++; break;
	case MEASURE_INCONCLUSIVE: run->inconclusive++; break;
	default: run->errors++; break;
	}
	if (outcome == MEASURE_ERROR) {
		run->consecutive_errors++;
	} else {
		run->taken++;
		run->consecutive_errors = 0;
	}
	run->phase = next_phase(run, cfg);

	/* The outcome, with the count it moved against its limit. */
	switch (outcome) {
	case MEASURE_SUCCESSFUL:
		if (cfg->count > 0)
			buf_addf(&reason, ": successful (measurement %u of %u)", run->taken, cfg->count);
		else
			buf_addf(&reason, ": successful (measurement %u)", run->taken);
		break;
	case MEASURE_FAILED:
		buf_addf(&reason, ": failed (%u failure%s, %u allowed)", run->failed, run->failed == 1 ? "" : "s",
			 cfg->failure_limit);
		break;
	case MEASURE_INCONCLUSIVE:
		buf_addf(&reason, ": inconclusive (%u inconclusive, %u allowed)", run->inconclusive,
			 cfg->inconclusive_limit);
		break;
	default:
		buf_addf(&reason, ": error (%u in a row, %u allowed)", run->consecutive_errors,
			 cfg->consecutive_error_limit);
		break;
	}
	static const char *const ends[] = {
		[MEASURE_SUCCESSFUL] = "successful", [MEASURE_FAILED] = "failed",
		[MEASURE_INCONCLUSIVE] = "inconclusive", [MEASURE_ERROR] = "in error",
	};
	if (run->phase != MEASURE_RUNNING)
		buf_addf(&reason, "; metric %s", ends[run->phase]);

	out->seq = run->measured;
	out->outcome = outcome;
	out->condition = cond.len ? xstrdup(cond.s) : NULL;
	out->reason = buf_detach(&reason);
	out->phase = run->phase;
	buf_release(&reason);
	buf_release(&cond);
	buf_release(&value);
	return 0;
}

void measure_record_release(struct measure_record *r)
{
	free(r->value);
	free(r->condition);
	free(r->reason);
	memset(r, 0, sizeof(*r));
	r->number = NAN;
}

uint64_t measure_data_wait_ms(const struct measure_config *cfg)
{
	uint64_t w = MEASURE_DATA_WAIT_INTERVALS * cfg->interval_ms;
	return cfg->initial_delay_ms + (w > MEASURE_DATA_WAIT_MIN_MS ? w : MEASURE_DATA_WAIT_MIN_MS);
}

bool measure_waits(struct buf *out, const struct measure_config *cfg, const struct measure_input *in,
		   uint64_t elapsed_ms)
{
	uint64_t wait = measure_data_wait_ms(cfg), need = cfg->min_samples ? cfg->min_samples : 1;

	if (elapsed_ms >= wait)
		return false;
	if (in->kind == MEASURE_IN_ERROR)
		return false;
	if (in->kind == MEASURE_IN_VALUE &&
	    (!cfg->min_samples || in->samples == MEASURE_SAMPLES_UNKNOWN || in->samples >= cfg->min_samples))
		return false;
	buf_addf(out, "%s: waiting for data", cfg->name);
	if (in->samples != MEASURE_SAMPLES_UNKNOWN)
		buf_addf(out, ": %llu of %llu requests", (unsigned long long)in->samples,
			 (unsigned long long)need);
	if (in->kind == MEASURE_IN_NO_DATA && in->detail && *in->detail)
		buf_addf(out, in->samples != MEASURE_SAMPLES_UNKNOWN ? " (%.*s)" : ": %.*s", DETAIL_MAX,
			 in->detail);
	buf_addf(out, ", %llus of %llus", (unsigned long long)(elapsed_ms / 1000),
		 (unsigned long long)((wait + 999) / 1000));
	return true;
}

enum measure_phase measure_run_stop(struct measure_run *run)
{
	if (run->phase == MEASURE_RUNNING)
		run->phase = MEASURE_SUCCESSFUL;
	return run->phase;
}

enum measure_phase measure_analysis_phase(const enum measure_phase *phases, size_t n)
{
	bool failed = false, error = false, running = false, inconclusive = false;
	for (size_t i = 0; i < n; i++) {
		failed |= phases[i] == MEASURE_FAILED;
		error |= phases[i] == MEASURE_ERROR;
		running |= phases[i] == MEASURE_RUNNING;
		inconclusive |= phases[i] == MEASURE_INCONCLUSIVE;
	}
	return failed ? MEASURE_FAILED
	       : error ? MEASURE_ERROR
	       : running ? MEASURE_RUNNING
	       : inconclusive ? MEASURE_INCONCLUSIVE
			      : MEASURE_SUCCESSFUL;
}

/* ------------------------------------------------------------------ */
/* JSON                                                               */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *measure_record_to_json(const struct measure_record *r)
{
	return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:s}", "seq", (json_int_t)r->seq, "outcome",
			 measure_phase_name(r->outcome), "value", str_or_null(r->value), "number",
			 isfinite(r->number) ? json_real(r->number) : json_null(), "condition",
			 str_or_null(r->condition), "reason", str_or_null(r->reason), "phase",
			 measure_phase_name(r->phase));
}

static const struct {
	const char *key;
	size_t off;
} run_fields[] = {
	{"measured", offsetof(struct measure_run, measured)},
	{"taken", offsetof(struct measure_run, taken)},
	{"successful", offsetof(struct measure_run, successful)},
	{"failed", offsetof(struct measure_run, failed)},
	{"inconclusive", offsetof(struct measure_run, inconclusive)},
	{"errors", offsetof(struct measure_run, errors)},
	{"consecutiveErrors", offsetof(struct measure_run, consecutive_errors)},
};
#define NRUN_FIELDS (sizeof(run_fields) / sizeof(run_fields[0]))

json_t *measure_run_to_json(const struct measure_run *run)
{
	json_t *j = json_pack("{s:s}", "phase", measure_phase_name(run->phase));
	for (size_t i = 0; i < NRUN_FIELDS; i++)
		json_object_set_new(j, run_fields[i].key,
				    json_integer(*(const uint32_t *)((const char *)run + run_fields[i].off)));
	return j;
}

int measure_run_from_json(struct measure_run *out, const json_t *j, struct sw_err *err)
{
	measure_run_init(out);
	int phase = measure_phase_parse(json_is_string(json_object_get(j, "phase"))
						? json_string_value(json_object_get(j, "phase"))
						: "");
	if (phase < 0)
		return sw_errf(err, -1, "measurement run: bad or missing \"phase\"");
	out->phase = (enum measure_phase)phase;
	for (size_t i = 0; i < NRUN_FIELDS; i++) {
		const json_t *v = json_object_get(j, run_fields[i].key);
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (json_int_t)UINT32_MAX)
			return sw_errf(err, -1, "measurement run: \"%s\" must be an integer >= 0", run_fields[i].key);
		*(uint32_t *)((char *)out + run_fields[i].off) = (uint32_t)json_integer_value(v);
	}
	return 0;
}
