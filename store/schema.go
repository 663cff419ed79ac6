package store

// migrations is the ordered schema history of the SQLite store, keyed by
// PRAGMA user_version: migrations[i] moves a database from version i to
// i+1. Never edit a released entry; append a new one.
var migrations = []string{
	// 1: lists, messages, threads, series, patches.
	`
CREATE TABLE lists (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	owner       TEXT NOT NULL DEFAULT '',
	created     INTEGER NOT NULL,
	uidvalidity INTEGER NOT NULL,
	next_uid    INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE messages (
	id          INTEGER PRIMARY KEY,
	list_id     INTEGER NOT NULL REFERENCES lists(id),
	uid         INTEGER NOT NULL,
	message_id  TEXT NOT NULL,
	sha256      BLOB NOT NULL,
	size        INTEGER NOT NULL,
	flags       INTEGER NOT NULL DEFAULT 0,
	subject     TEXT NOT NULL DEFAULT '',
	from_name   TEXT NOT NULL DEFAULT '',
	from_email  TEXT NOT NULL DEFAULT '',
	date        INTEGER NOT NULL DEFAULT 0,
	arrived     INTEGER NOT NULL,
	in_reply_to TEXT NOT NULL DEFAULT '',
	refs        TEXT NOT NULL DEFAULT '',
	thread_id   INTEGER NOT NULL,
	kind        TEXT NOT NULL DEFAULT '',
	series_id   INTEGER,
	trailers    TEXT
);
CREATE UNIQUE INDEX messages_uid ON messages(list_id, uid);
CREATE UNIQUE INDEX messages_sha ON messages(list_id, sha256);
CREATE INDEX messages_msgid ON messages(list_id, message_id);
CREATE INDEX messages_thread ON messages(thread_id);

-- raw holds the message bytes, zstd-compressed, apart from the metadata so
-- that scans of messages stay small.
CREATE TABLE raw (
	id   INTEGER PRIMARY KEY REFERENCES messages(id),
	data BLOB NOT NULL
);

-- refs maps every Message-ID a list has seen, as a message or only as a
-- reference (a ghost), to its thread.
CREATE TABLE refs (
	list_id    INTEGER NOT NULL,
	message_id TEXT NOT NULL,
	thread_id  INTEGER NOT NULL,
	PRIMARY KEY (list_id, message_id)
) WITHOUT ROWID;
CREATE INDEX refs_thread ON refs(thread_id);

CREATE TABLE threads (
	id          INTEGER PRIMARY KEY,
	list_id     INTEGER NOT NULL REFERENCES lists(id),
	root        INTEGER NOT NULL,   -- messages.id of the root
	root_depth  INTEGER NOT NULL,   -- how many references the root has
	messages    INTEGER NOT NULL DEFAULT 0,
	first_date  INTEGER NOT NULL DEFAULT 0,
	last_date   INTEGER NOT NULL DEFAULT 0,
	last_uid    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX threads_list ON threads(list_id, last_uid);

CREATE TABLE series (
	id              INTEGER PRIMARY KEY,
	list_id         INTEGER NOT NULL REFERENCES lists(id),
	subject         TEXT NOT NULL,
	norm_subject    TEXT NOT NULL,
	version         INTEGER NOT NULL,
	status          TEXT NOT NULL,
	submitter_name  TEXT NOT NULL,
	submitter_email TEXT NOT NULL,
	total           INTEGER NOT NULL,
	received        INTEGER NOT NULL DEFAULT 0,
	message_id      TEXT NOT NULL DEFAULT '',
	cover_message_id TEXT NOT NULL DEFAULT '',
	date            INTEGER NOT NULL,
	previous        INTEGER,
	superseded_by   INTEGER,
	rfc             INTEGER NOT NULL DEFAULT 0,
	resend          INTEGER NOT NULL DEFAULT 0,
	prefix          TEXT NOT NULL DEFAULT '',
	change_id       TEXT NOT NULL DEFAULT '',
	base_commit     TEXT NOT NULL DEFAULT '',
	thread_id       INTEGER NOT NULL DEFAULT 0,
	stem            TEXT NOT NULL DEFAULT '',
	pull_url        TEXT NOT NULL DEFAULT '',
	pull_ref        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX series_list ON series(list_id, status, id);
CREATE INDEX series_submitter ON series(list_id, submitter_email, version, total, date);
CREATE INDEX series_subject ON series(list_id, submitter_email, norm_subject);
CREATE INDEX series_change ON series(list_id, change_id) WHERE change_id != '';
CREATE INDEX series_stem ON series(list_id, stem) WHERE stem != '';
CREATE INDEX series_thread ON series(thread_id);

CREATE TABLE patches (
	id             INTEGER PRIMARY KEY,
	series_id      INTEGER NOT NULL REFERENCES series(id),
	message        INTEGER NOT NULL REFERENCES messages(id),
	idx            INTEGER NOT NULL,
	subject        TEXT NOT NULL,
	commit_subject TEXT NOT NULL,
	author_name    TEXT NOT NULL,
	author_email   TEXT NOT NULL,
	date           INTEGER NOT NULL,
	files          TEXT NOT NULL,
	patch_id       TEXT NOT NULL,
	trailers       TEXT,
	UNIQUE (series_id, idx)
);
CREATE INDEX patches_patch_id ON patches(patch_id) WHERE patch_id != '';
CREATE INDEX patches_subject ON patches(commit_subject);
`,
	// 2: look a Message-ID up across lists (the /all/ inbox).
	`CREATE INDEX messages_anyid ON messages(message_id);`,
	// 3: accounts, sessions, API tokens, list roles and visibility,
	// series status history.
	`
ALTER TABLE lists ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';

-- password is an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$key).
CREATE TABLE users (
	id        INTEGER PRIMARY KEY,
	email     TEXT NOT NULL UNIQUE COLLATE NOCASE,
	name      TEXT NOT NULL DEFAULT '',
	password  TEXT NOT NULL,
	confirmed INTEGER NOT NULL DEFAULT 0,
	admin     INTEGER NOT NULL DEFAULT 0,
	created   INTEGER NOT NULL
);

-- Sessions, API tokens and pending e-mail confirmations keep only the
-- sha256 of their secret: a copy of the database signs nobody in.
CREATE TABLE sessions (
	hash    BLOB PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
	id        INTEGER PRIMARY KEY,
	hash      BLOB NOT NULL UNIQUE,
	user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name      TEXT NOT NULL,
	created   INTEGER NOT NULL,
	last_used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE confirmations (
	hash    BLOB PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	expires INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE list_roles (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	list_id INTEGER NOT NULL REFERENCES lists(id),
	role    TEXT NOT NULL CHECK (role IN ('owner', 'maintainer')),
	PRIMARY KEY (user_id, list_id)
) WITHOUT ROWID;

CREATE TABLE status_history (
	id          INTEGER PRIMARY KEY,
	series_id   INTEGER NOT NULL REFERENCES series(id),
	from_status TEXT NOT NULL,
	to_status   TEXT NOT NULL,
	user_id     INTEGER REFERENCES users(id),
	at          INTEGER NOT NULL,
	comment     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX status_history_series ON status_history(series_id, id);
`,
	// 4: per-list message and series counters kept by triggers, so
	// the home and list pages read counts without counting rows; the
	// newest series of a list by walking an index, not sorting them all.
	`
CREATE INDEX series_list_id ON series(list_id, id);
ALTER TABLE lists ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lists ADD COLUMN series_count INTEGER NOT NULL DEFAULT 0;
UPDATE lists SET message_count = (SELECT count(*) FROM messages m WHERE m.list_id = lists.id),
	series_count = (SELECT count(*) FROM series s WHERE s.list_id = lists.id);
CREATE TRIGGER messages_count_add AFTER INSERT ON messages BEGIN
	UPDATE lists SET message_count = message_count + 1 WHERE id = NEW.list_id;
END;
CREATE TRIGGER messages_count_del AFTER DELETE ON messages BEGIN
	UPDATE lists SET message_count = message_count - 1 WHERE id = OLD.list_id;
END;
CREATE TRIGGER series_count_add AFTER INSERT ON series BEGIN
	UPDATE lists SET series_count = series_count + 1 WHERE id = NEW.list_id;
END;
CREATE TRIGGER series_count_del AFTER DELETE ON series BEGIN
	UPDATE lists SET series_count = series_count - 1 WHERE id = OLD.list_id;
END;
`,
	// 5: resolved review comments, and the outbox of mail
	// patchwell writes (web reviews) until the distribution delivers it.
	`
CREATE TABLE comment_resolutions (
	reply_message_id TEXT NOT NULL,
	patch_message_id TEXT NOT NULL,
	file             TEXT NOT NULL,
	side             TEXT NOT NULL,
	line             INTEGER NOT NULL,
	resolved_by      TEXT NOT NULL,
	resolved_at      INTEGER NOT NULL,
	PRIMARY KEY (patch_message_id, reply_message_id, file, side, line)
) WITHOUT ROWID;

CREATE TABLE outbox (
	id         INTEGER PRIMARY KEY,
	list_id    INTEGER NOT NULL REFERENCES lists(id),
	message_id TEXT NOT NULL,
	raw        BLOB NOT NULL,
	state      TEXT NOT NULL,
	created    INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_state ON outbox(state, id);
`,
	// 6: the full-text index, one FTS4 row per message (docid =
	// messages.id), contentless (the text is in raw). Every word is
	// indexed lower-cased with a one-letter field code in front ("sfix"
	// for "fix" in the subject; see store/search.go), so one column
	// carries public-inbox's prefixes and phrases stay within a field.
	// The tokenizer only splits on spaces (and '*', the prefix operator).
	`CREATE VIRTUAL TABLE search USING fts4(x, content="", order=DESC, tokenize=simple " *");`,
	// 7: FTS4 merges index segments a little at the end of every
	// write transaction (automerge) instead of all at once when sixteen
	// pile up: no commit pays for a big merge, and fewer freed pages are
	// left behind (the bench import's database 80 MB -> 77 MB). The
	// setting is stored in the index itself.
	`INSERT INTO search(search) VALUES('automerge=8');`,
	// 8: the mailing list: posting policy per list, allow and deny
	// rules, subscribers, pending subscription confirmations, messages
	// held for a moderator (kept apart from the archive until approved),
	// authentication results per message, and server secrets (the key of
	// unsubscribe links).
	`
ALTER TABLE lists ADD COLUMN posting TEXT NOT NULL DEFAULT 'open';
ALTER TABLE lists ADD COLUMN dmarc_action TEXT NOT NULL DEFAULT 'accept';
CREATE TABLE list_rules (
	list_id INTEGER NOT NULL REFERENCES lists(id),
	pattern TEXT NOT NULL,
	action  TEXT NOT NULL,
	PRIMARY KEY (list_id, pattern)
) WITHOUT ROWID;
CREATE TABLE subscribers (
	list_id INTEGER NOT NULL REFERENCES lists(id),
	email   TEXT NOT NULL,
	name    TEXT NOT NULL DEFAULT '',
	state   TEXT NOT NULL,
	created INTEGER NOT NULL,
	bounces INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (list_id, email)
) WITHOUT ROWID;
CREATE TABLE sub_confirmations (
	hash    BLOB PRIMARY KEY,
	list_id INTEGER NOT NULL REFERENCES lists(id),
	email   TEXT NOT NULL,
	action  TEXT NOT NULL,
	expires INTEGER NOT NULL
);
CREATE TABLE held (
	id         INTEGER PRIMARY KEY,
	list_id    INTEGER NOT NULL REFERENCES lists(id),
	raw        BLOB NOT NULL,
	message_id TEXT NOT NULL,
	from_email TEXT NOT NULL,
	subject    TEXT NOT NULL,
	reason     TEXT NOT NULL,
	auth       TEXT NOT NULL DEFAULT '',
	arrived    INTEGER NOT NULL,
	state      TEXT NOT NULL,
	decided_by TEXT NOT NULL DEFAULT '',
	decided_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX held_list ON held(list_id, state, id);
CREATE TABLE message_auth (
	id     INTEGER PRIMARY KEY REFERENCES messages(id),
	result TEXT NOT NULL
);
CREATE TABLE secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
`,
	// 9: each message's size as IMAP sends it (lines ending in CRLF),
	// for RFC822.SIZE, LARGER/SMALLER and STATUS SIZE without reading the
	// message; Open fills it for messages stored before.
	`
ALTER TABLE messages ADD COLUMN wire_size INTEGER;
CREATE INDEX messages_no_wire_size ON messages(id) WHERE wire_size IS NULL;
`,
	// 10: one delivery per (outbox message, recipient),
	// so that a fan-out resumes where it stopped after a restart and a
	// recipient handed over to the smarthost is never sent the message
	// again. state is pending, sent or failed; next_attempt and sent_at
	// are unix seconds (0 for none).
	`
CREATE TABLE deliveries (
	id           INTEGER PRIMARY KEY,
	outbox_id    INTEGER NOT NULL REFERENCES outbox(id),
	rcpt         TEXT NOT NULL COLLATE NOCASE,
	state        TEXT NOT NULL DEFAULT 'pending',
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	sent_at      INTEGER NOT NULL DEFAULT 0,
	UNIQUE (outbox_id, rcpt)
);
CREATE INDEX deliveries_due ON deliveries(state, next_attempt);
CREATE INDEX deliveries_outbox ON deliveries(outbox_id, state);
`,
	// 11: CI results (checks) on series and patches, one per context.
	`
CREATE TABLE checks (
	id          INTEGER PRIMARY KEY,
	series_id   INTEGER NOT NULL REFERENCES series(id),
	patch_index INTEGER NOT NULL DEFAULT 0,
	context     TEXT NOT NULL,
	state       TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	url         TEXT NOT NULL DEFAULT '',
	log         TEXT NOT NULL DEFAULT '',
	created     INTEGER NOT NULL,
	updated     INTEGER NOT NULL,
	UNIQUE (series_id, patch_index, context)
);
`,
	// 12: outgoing webhooks. webhooks are the
	// subscriptions (events: comma-separated types, '' for all; list: ''
	// for every list); webhook_events are the events, unique by key so
	// that emitting one twice queues it once; webhook_deliveries are one
	// event on its way to one subscription (state pending, delivered or
	// failed; next_attempt and delivered_at in unix seconds).
	`
CREATE TABLE webhooks (
	id      INTEGER PRIMARY KEY,
	url     TEXT NOT NULL,
	secret  BLOB NOT NULL,
	events  TEXT NOT NULL DEFAULT '',
	list    TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL
);
CREATE TABLE webhook_events (
	id      INTEGER PRIMARY KEY,
	key     TEXT NOT NULL UNIQUE,
	type    TEXT NOT NULL,
	list    TEXT NOT NULL,
	payload TEXT NOT NULL,
	created INTEGER NOT NULL
);
CREATE TABLE webhook_deliveries (
	id           INTEGER PRIMARY KEY,
	event_id     INTEGER NOT NULL REFERENCES webhook_events(id),
	webhook_id   INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
	guid         TEXT NOT NULL UNIQUE,
	state        TEXT NOT NULL DEFAULT 'pending',
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL DEFAULT 0,
	last_status  INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	delivered_at INTEGER NOT NULL DEFAULT 0,
	UNIQUE (event_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
`,
	// 13: each list's git repository (URL or local bare
	// path, target branch, fallback check command, whether a first-time
	// contributor's series waits for a go-ahead), and the commits a series
	// was applied as (commits: ids in order, space-separated).
	`
CREATE TABLE list_repos (
	list_id     INTEGER PRIMARY KEY REFERENCES lists(id),
	repo        TEXT NOT NULL,
	branch      TEXT NOT NULL,
	check_cmd   TEXT NOT NULL DEFAULT '',
	first_timer_gate INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE applied_series (
	series_id  INTEGER PRIMARY KEY,
	commits    TEXT NOT NULL,
	branch     TEXT NOT NULL,
	applied_at INTEGER NOT NULL,
	applied_by TEXT NOT NULL DEFAULT ''
);
`,
	// 14: the CI job queue, one job per revision (series).
	// state is queued, running, held (waiting for a maintainer's go-ahead),
	// done or failed; a running job belongs to lease_owner until
	// lease_expires (unix milliseconds), after which another runner may
	// claim it again. released is set by a maintainer's go-ahead.
	`
CREATE TABLE jobs (
	id            INTEGER PRIMARY KEY,
	series_id     INTEGER NOT NULL UNIQUE REFERENCES series(id),
	state         TEXT NOT NULL DEFAULT 'queued',
	attempts      INTEGER NOT NULL DEFAULT 0,
	lease_owner   TEXT NOT NULL DEFAULT '',
	lease_expires INTEGER NOT NULL DEFAULT 0,
	released      INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT NOT NULL DEFAULT '',
	created       INTEGER NOT NULL,
	updated       INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, lease_expires, id);
`,
	// 15: accounts the operator disabled (patchwell user disable):
	// their sessions are ended, their tokens and roles kept but refused
	// until they are enabled again.
	`ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;`,
	// 16: pending reviews and open issues (issue 17). draft_comments are
	// the line comments a reviewer collects on the web before submitting
	// them (one draft per user and series; issue: open an issue when
	// sent). comment_issues mark sent review comments as issues to fix,
	// keyed as comment_resolutions are; resolving one is its resolution.
	`
CREATE TABLE draft_comments (
	id               INTEGER PRIMARY KEY,
	user_id          INTEGER NOT NULL REFERENCES users(id),
	series_id        INTEGER NOT NULL,
	patch_message_id TEXT NOT NULL,
	file             TEXT NOT NULL,
	side             TEXT NOT NULL,
	line             INTEGER NOT NULL,
	body             TEXT NOT NULL,
	issue            INTEGER NOT NULL DEFAULT 0,
	created          INTEGER NOT NULL,
	updated          INTEGER NOT NULL
);
CREATE INDEX draft_comments_user ON draft_comments(user_id, series_id, id);
CREATE TABLE comment_issues (
	reply_message_id TEXT NOT NULL,
	patch_message_id TEXT NOT NULL,
	file             TEXT NOT NULL,
	side             TEXT NOT NULL,
	line             INTEGER NOT NULL,
	opened_by        TEXT NOT NULL,
	opened_at        INTEGER NOT NULL,
	PRIMARY KEY (patch_message_id, reply_message_id, file, side, line)
) WITHOUT ROWID;
`,
	// 17: the files of a series' patches a user marked viewed on the
	// series page (patch: its index in the series; path: the file's new
	// path, its old one when deleted).
	`
CREATE TABLE viewed_files (
	user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	series_id INTEGER NOT NULL REFERENCES series(id),
	patch     INTEGER NOT NULL,
	path      TEXT NOT NULL,
	viewed_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, series_id, patch, path)
);
`,
	// 18: the MIME structure of a big message (archive.Structure: part
	// offsets, flags and line counts), kept when it arrives so that IMAP
	// serves its parts without parsing its body.
	`
CREATE TABLE mime_structures (
	id   INTEGER PRIMARY KEY REFERENCES messages(id),
	data BLOB NOT NULL
);
`,
	// 19: the version control system of a list's repository (git or
	// hg).
	`
ALTER TABLE list_repos ADD COLUMN vcs TEXT NOT NULL DEFAULT 'git';
`,
	// 20: series prepared and sent from the browser (package submit):
	// a draft (data, JSON) kept for its user until sent or expired; once
	// sent, message_id is its cover letter's (or only patch's).
	`
CREATE TABLE submissions (
	id         TEXT PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	list       TEXT NOT NULL,
	repo       TEXT NOT NULL,
	branch     TEXT NOT NULL,
	title      TEXT NOT NULL,
	version    INTEGER NOT NULL,
	data       TEXT NOT NULL,
	message_id TEXT NOT NULL DEFAULT '',
	created    INTEGER NOT NULL,
	sent       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX submissions_user ON submissions(user_id, list, sent);
CREATE INDEX submissions_message ON submissions(message_id);
`,
	// 21: developer keys for b4's web submission endpoint (auth-new,
	// auth-verify), their single-use challenges, the submissions each
	// identity made (its hourly limit), and the developer signatures
	// (patatt) of stored messages as checked against the verified keys,
	// by the message's sha256 (a reindex keeps it).
	`
CREATE TABLE dev_keys (
	id        INTEGER PRIMARY KEY,
	identity  TEXT NOT NULL,
	name      TEXT NOT NULL DEFAULT '',
	selector  TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	pubkey    TEXT NOT NULL,
	key_id    TEXT NOT NULL,
	created   INTEGER NOT NULL,
	verified  INTEGER NOT NULL DEFAULT 0,
	UNIQUE (identity, algorithm, key_id)
);
CREATE TABLE dev_challenges (
	challenge TEXT PRIMARY KEY,
	key_id    INTEGER NOT NULL REFERENCES dev_keys(id) ON DELETE CASCADE,
	expires   INTEGER NOT NULL
);
CREATE INDEX dev_challenges_key ON dev_challenges(key_id);
CREATE TABLE dev_submissions (
	identity TEXT NOT NULL,
	at       INTEGER NOT NULL,
	messages INTEGER NOT NULL
);
CREATE INDEX dev_submissions_identity ON dev_submissions(identity, at);
CREATE TABLE message_sigs (
	sha256    BLOB PRIMARY KEY,
	state     TEXT NOT NULL,
	identity  TEXT NOT NULL DEFAULT '',
	selector  TEXT NOT NULL DEFAULT '',
	algorithm TEXT NOT NULL DEFAULT '',
	key_id    INTEGER NOT NULL DEFAULT 0,
	checked   INTEGER NOT NULL
);
CREATE INDEX message_sigs_identity ON message_sigs(identity);
`,
	// 22: patchwork's per-patch state (the patchwork-compatible API, pwapi):
	// state '' follows the series' status; delegate is a user id (0: none).
	`
ALTER TABLE patches ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE patches ADD COLUMN delegate INTEGER NOT NULL DEFAULT 0;
ALTER TABLE patches ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE patches ADD COLUMN commit_ref TEXT NOT NULL DEFAULT '';
`,
	// 23: bundles, patchwork's named sets of patches (pwapi, web): an
	// owner's, of one list, public or private; their patches in order.
	`
CREATE TABLE bundles (
	id      INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	list_id INTEGER NOT NULL REFERENCES lists(id),
	name    TEXT NOT NULL,
	public  INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL,
	UNIQUE (user_id, list_id, name)
);
CREATE INDEX bundles_list ON bundles(list_id, public);
CREATE TABLE bundle_patches (
	bundle_id INTEGER NOT NULL REFERENCES bundles(id) ON DELETE CASCADE,
	patch_id  INTEGER NOT NULL REFERENCES patches(id) ON DELETE CASCADE,
	pos       INTEGER NOT NULL,
	PRIMARY KEY (bundle_id, patch_id)
);
CREATE INDEX bundle_patches_patch ON bundle_patches(patch_id);
`,
	// 24: "needs me" (store/needsme.go): the To/Cc addresses of patches
	// and cover letters (lower-case, filled by AddMessage; a reindex fills
	// them for mail stored before), the messages of a sender, the
	// patches delegated to a user, and each user's feed token (sha256).
	`
CREATE TABLE message_rcpts (
	email      TEXT NOT NULL,
	message_id INTEGER NOT NULL,
	PRIMARY KEY (email, message_id)
) WITHOUT ROWID;
CREATE INDEX messages_from ON messages(from_email, thread_id);
CREATE INDEX patches_delegate ON patches(delegate) WHERE delegate <> 0;
CREATE TABLE feed_tokens (
	user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	hash    BLOB NOT NULL UNIQUE,
	created INTEGER NOT NULL
);
`,
	// 25: the maintainer's workload: a list's setting to post status
	// notifications to the series' thread (notify_thread), an account's
	// opt-out of them (status_mail), and the notification worker's
	// cursor over status_history (package notify), started past the
	// changes made before it existed.
	`
ALTER TABLE lists ADD COLUMN notify_thread INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN status_mail INTEGER NOT NULL DEFAULT 1;
CREATE TABLE notify_cursor (
	name    TEXT PRIMARY KEY,
	last_id INTEGER NOT NULL
);
INSERT INTO notify_cursor(name, last_id) SELECT 'status', COALESCE(MAX(id), 0) FROM status_history;
`,
	// 26: patchwork's change events (the events of the patchwork-compatible
	// API, pwapi): a patch's state changed (its own or through its
	// series' status), its delegate changed, a check was posted. Written in
	// the transaction of the change; the creation events (patches, covers,
	// series, comments) are derived from their rows (store/events.go).
	// actor is a user id (0: none); prev_value and new_value are the
	// states or the delegates' user ids.
	`
CREATE TABLE events (
	id         INTEGER PRIMARY KEY,
	list_id    INTEGER NOT NULL REFERENCES lists(id),
	category   TEXT NOT NULL,
	date       INTEGER NOT NULL,
	actor      INTEGER NOT NULL DEFAULT 0,
	patch_id   INTEGER NOT NULL DEFAULT 0,
	series_id  INTEGER NOT NULL DEFAULT 0,
	check_id   INTEGER NOT NULL DEFAULT 0,
	prev_value TEXT NOT NULL DEFAULT '',
	new_value  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_list ON events(list_id, date, id);
CREATE INDEX events_patch ON events(patch_id);
`,
}
