/*
 * The Source document's field descriptions, for `slipway explain source`
 * (spec/reference.h): the only place this prose lives in code.
 * tests/unit/test_spec_reference.c fails when a field of kind.c's tables
 * has none here, or a path here names no field.
 */
#include "gitops.h"

const struct spec_ref_doc gitops_source_docs[] = {
	{"",
	 "A git repository to deploy from: the daemon fetches its ref, reads the documents under its paths "
	 "and applies each new commit through the same engine as `slipway apply`, and shows where the "
	 "host and git disagree (docs/gitops.md).", NULL},
	{"metadata.labels",
	 "Labels for `slipway get -l` (the rules of an App's labels); part of the stored source.", NULL},
	{"spec", "Where the documents are, how often to look, and what a sync may do.", NULL},
	{"spec.url",
	 "The repository: https://, http://, ssh://, scp-like git@host:path, git:// or file://. A password "
	 "in the URL is never shown.", NULL},
	{"spec.ref",
	 "A branch, a tag, a commit (4 to 40 hex digits), or a tag pattern with \"*\" (\"v1.*\" deploys "
	 "the highest matching tag, numbers compared as numbers).", "the remote's default branch"},
	{"spec.path",
	 "A directory (or file) of the repository, or a list of them: a directory gives its own *.yaml "
	 "and *.yml files in name order, not its subdirectories' (list them too). Relative to the "
	 "repository's root and inside it.", NULL},
	{"spec.interval", "How often the repository is fetched without a webhook.", NULL},
	{"spec.timeout", "The longest one fetch may take, from connect to last byte.", NULL},
	{"spec.credentials",
	 "Read from files when the remote asks for them, so a rotated token takes effect on the next "
	 "fetch; never logged, stored or shown. Relative paths are from the Source document's file.",
	 NULL},
	{"spec.credentials.username", "The user for https basic auth, or for ssh.", NULL},
	{"spec.credentials.passwordFile", "A file holding the https password or token.", NULL},
	{"spec.credentials.tokenFile", "Another name for passwordFile; write one of them.", NULL},
	{"spec.credentials.sshKeyFile", "ssh: a private key without passphrase.", NULL},
	{"spec.credentials.knownHostsFile",
	 "ssh: the known_hosts file the host's key is checked against; required for an ssh URL "
	 "(unknown hosts are refused).", NULL},
	{"spec.webhook",
	 "Lets the host's push webhook start a fetch at once (POST /v1/sources/NAME/webhook).",
	 "no webhook"},
	{"spec.webhook.secretFile",
	 "A file holding the webhook's shared secret; a request whose signature does not match it is "
	 "refused.", NULL},
	{"spec.syncPolicy", "What a sync does by itself.", NULL},
	{"spec.syncPolicy.automated",
	 "Apply new commits as they are fetched; with false they are fetched and shown (OutOfSync) but "
	 "applied only by `slipway sync`.", NULL},
	{"spec.syncPolicy.prune",
	 "Delete the apps of the source that left git; with false they keep running and show as drift.",
	 NULL},
	{"spec.syncPolicy.selfHeal", "Undo changes made outside git (a hand apply or delete) at once.",
	 NULL},
	{"spec.syncPolicy.allowEmpty",
	 "Let a commit prune every app of the source (an emptied directory, a wrong path); refused "
	 "without it.", NULL},
	{"spec.writeBack",
	 "Commit rollbacks of the source's apps to git, so git and the host agree (`{}` turns it on with "
	 "the defaults); without it a rollback pauses the app's sync (docs/gitops.md#rollback).",
	 "none: a rollback pauses"},
	{"spec.writeBack.branch",
	 "The branch the rollback's commit is pushed to; a ref that is a tag, a tag pattern or a commit "
	 "needs one.", "the branch ref resolved to"},
	{"spec.writeBack.author",
	 "\"Name <email>\", the commit's author and committer.", "Slipway <slipway@HOSTNAME>"},
	{"spec.writeBack.onAbort",
	 "Write back automatic aborts too, not only rollbacks by hand.", NULL},
	{"spec.environments",
	 "The environments this host takes from the repository: each base App (one without "
	 "metadata.environment) becomes one App per environment listed, with that environment's Patch "
	 "merged; documents of other environments are read, checked and skipped, so that two hosts can "
	 "sync one repository (docs/environments.md, \"Overlays\").",
	 "none: each document goes to the environment it names, a base App to default"},
	{NULL, NULL, NULL},
};
