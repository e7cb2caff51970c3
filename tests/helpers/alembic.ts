import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/**
 * Debian's python3-alembic and python3-psycopg2 install for the system Python,
 * which need not be the first python3 on PATH (pyenv, a venv).
 */
export const PYTHON = process.env.GATEHOUSE_TEST_PYTHON ?? "/usr/bin/python3";
const FIXTURE = path.join(__dirname, "..", "fixtures", "alembic-app");
const PACKAGES = "python3-alembic python3-psycopg2";

let available: string | undefined | null = null;

/** Why alembic cannot run here, or undefined when it can. */
function missingReason(): string | undefined {
    if (available === null) {
        const r = spawnSync(PYTHON, ["-c", "import alembic, psycopg2"], { encoding: "utf8" });
        available = r.status === 0 ? undefined : `${PYTHON} cannot import alembic and psycopg2 (${(r.error?.message ?? r.stderr ?? "").trim().split("\n").pop()})`;
    }
    return available;
}

/**
 * The alembic tests need a real alembic. Under CI a missing one fails the run
 * (.ci/run installs it); elsewhere the suite is skipped, saying why and how.
 */
export function alembicOrSkip(context: Mocha.Context): void {
    const reason = missingReason();
    if (!reason) return;
    const how = `install Debian's ${PACKAGES} (apt-get install -y ${PACKAGES}; .ci/run does it), or point GATEHOUSE_TEST_PYTHON at a python3 that has them`;
    if (process.env.CI === "true") throw new Error(`${reason}: ${how}`);
    console.log(`      skipped: ${reason}\n      ${how}`);
    context.skip();
}

/**
 * A fresh copy of tests/fixtures/alembic-app (two revisions, an env.py that
 * falls back to SQLite without DATABASE_URL) and the alembic commands for it.
 * Commands run from the copy, so the fallback's SQLite file lands there.
 */
export function alembicProject(): { dir: string; alembic: (args: string) => string; fallbackFile: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-alembic-"));
    fs.cpSync(FIXTURE, dir, { recursive: true });
    return {
        dir,
        alembic: (args: string) => `cd '${dir}' && PYTHONDONTWRITEBYTECODE=1 ${PYTHON} -m alembic -c alembic.ini ${args}`,
        fallbackFile: path.join(dir, "fallback.sqlite3"),
    };
}
