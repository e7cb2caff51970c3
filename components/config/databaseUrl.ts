import { redactUrl } from "../release/pgTools";

// No @pulumi/pulumi here: the release CLIs (revision.ts) load this, and start faster without it.

/**
 * The database URL in the form the app reads it. Gatehouse derives
 * `postgres://` URLs (node-postgres, psql and pg_dump take them), but an app
 * on SQLAlchemy needs its dialect and driver in the scheme
 * (`postgresql+psycopg://`): given `postgres://`, SQLAlchemy and alembic stop
 * with NoSuchModuleError. Only the scheme changes; user, password, host,
 * database and query (`sslmode=require` on AWS) stay as they are.
 */
export function databaseUrlForApp(url: string, scheme: string): string {
    const match = /^postgres(ql)?(\+[^:/]*)?:\/\//.exec(url);
    if (!match) throw new Error(`not a PostgreSQL URL (expected postgres://...): ${redactUrl(url)}`);
    return `${scheme}://${url.slice(match[0].length)}`;
}
