// The release id's rule, apart from the zod schema: the release steps' CLIs
// check every --release they get, and loading zod for one regular expression
// cost each of them ~60 ms at start-up (five of them run on a release's path).

/** A release id: names snapshot files, ledger lines and slots. */
export const RELEASE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const RELEASE_ID_RULE = "must be letters, digits, '.', '_' or '-' (at most 63), e.g. 2026-11-22.1";
