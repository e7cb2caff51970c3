import { strict as assert } from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ensureCliBuild } from "../components/release/cliBuild";
import { gatehouseCli } from "../components/release/pipeline";
import { freshDatabase, sql } from "./helpers/postgres";

// The fixture's story (tests/fixtures/long-history/README.md): an operator applied
// every file up to the baseline with psql in file-name order; Gatehouse takes over
// there, releases up to 021 (then named 021_tags.sql), the file is renamed, and a
// second release applies the rest.
const ROOT = path.join(__dirname, "..");
const FIXTURE = path.join(__dirname, "fixtures", "long-history");
const MIGRATIONS = path.join(FIXTURE, "migrations");
const history: { baseline: string; firstRelease: string; renamedAfterRelease: Record<string, string> } = JSON.parse(
    fs.readFileSync(path.join(FIXTURE, "history.json"), "utf8"),
);
const ALL = fs.readdirSync(MIGRATIONS).filter((f) => f.endsWith(".sql")).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
const prefix = (file: string) => Number(file.split("_")[0]);

/** A directory holding these fixture files, each under the name it had at the time. */
function checkout(files: string[], names: Record<string, string> = {}): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-history-"));
    for (const f of files) fs.copyFileSync(path.join(MIGRATIONS, f), path.join(dir, names[f] ?? f));
    return dir;
}

/**
 * The operator's procedure, literally: a shell loop over *.sql in the C locale,
 * psql -v ON_ERROR_STOP=1 -f per file, stopping at the first failure.
 * (-X -q only keep a psqlrc and notices out of the test.)
 */
function psqlLoop(dir: string, url: string): void {
    const loop = 'for f in "$DIR"/*.sql; do psql -X -q -v ON_ERROR_STOP=1 -d "$URL" -f "$f" || exit 1; done';
    execFileSync("/bin/sh", ["-c", loop], { env: { ...process.env, LC_ALL: "C", DIR: dir, URL: url }, stdio: ["ignore", "ignore", "pipe"] });
}

/** A release step's migrate command, exactly as the pipeline runs it. */
function migrate(args: string[], url: string, release: string) {
    const result = spawnSync("/bin/sh", ["-c", gatehouseCli("migrate", [...args, "--database-url", url])], {
        cwd: ROOT,
        env: { ...process.env, GATEHOUSE_RELEASE: release },
        encoding: "utf8",
    });
    assert.equal(result.status, 0, `migrate ${args.join(" ")} was refused:\n${result.stderr}${result.stdout}`);
    return result.stdout;
}

/** The schema as pg_dump prints it, without Gatehouse's own table and pg_dump 15.14+'s per-dump \restrict key. */
function schemaOf(url: string): string {
    const dump = execFileSync("pg_dump", ["--schema-only", "--no-owner", "--exclude-table=gatehouse_migrations", "-d", url], { encoding: "utf8" });
    return dump
        .split("\n")
        .filter((line) => !/^\\(un)?restrict\b/.test(line))
        .join("\n");
}

describe("a long-lived history taken over from psql -f at its baseline (real psql and PostgreSQL)", function () {
    this.timeout(120_000);
    let taken: Awaited<ReturnType<typeof freshDatabase>>;
    let looped: Awaited<ReturnType<typeof freshDatabase>>;
    before(async () => {
        ensureCliBuild();
        taken = await freshDatabase("history_taken");
        looped = await freshDatabase("history_loop");
    });
    after(async () => {
        await taken?.drop();
        await looped?.drop();
    });

    it("releases the rest on top without renumbering: nothing refused, exactly the pending files applied, the same schema as the whole psql loop", async () => {
        const byHand = ALL.filter((f) => prefix(f) <= Number(history.baseline));
        psqlLoop(checkout(byHand), taken.url);
        // A year of traffic: the rewrite, the backfill and the enum update below meet real rows.
        await sql(taken.url, "INSERT INTO users (email, display_name) VALUES ('a@example.com', 'A'), ('b@example.com', 'B')");
        await sql(
            taken.url,
            `INSERT INTO trades (user_id, symbol, side, price, quantity, traded_at)
             SELECT u.id, '005930', CASE WHEN g % 3 = 0 THEN 'sell' ELSE 'buy' END::trade_side, 70000.5 + g, g, now() - g * interval '1 day'
             FROM generate_series(1, 1000) g JOIN users u ON u.email = CASE WHEN g % 2 = 0 THEN 'a@example.com' ELSE 'b@example.com' END`,
        );

        // First release: one step per file after the baseline, as the pipeline runs them.
        const oldNames = history.renamedAfterRelease;
        const first = ALL.filter((f) => Buffer.compare(Buffer.from(f), Buffer.from(history.firstRelease)) <= 0);
        const firstDir = checkout(first, oldNames);
        const firstSteps = first.filter((f) => prefix(f) > Number(history.baseline)).map((f) => oldNames[f] ?? f);
        const firstOut = firstSteps.map((f) => migrate(["up", "--dir", firstDir, "--through-file", f, "--baseline", history.baseline], taken.url, "r1"));
        for (const f of byHand) assert.match(firstOut[0], new RegExp(`baselined ${f.replace(/\./g, "\\.")} `));
        firstSteps.forEach((f, i) => assert.match(firstOut[i], new RegExp(`^applied ${f.replace(/\./g, "\\.")} in \\d+ ms\\napplied 1, `, "m")));

        // Second release: the whole directory, 021 renamed since.
        const status = migrate(["status", "--dir", MIGRATIONS], taken.url, "r2");
        assert.match(status, /applied +021_trade_tags\.sql .*\(applied as 021_tags\.sql; recorded under the new name/);
        assert.match(status, /shared prefix: 007_journal_entries\.sql, 007_user_locale\.sql/);
        assert.match(status, /shared prefix: 023_backfill_trade_tags\.sql, 023_trade_tags_index_concurrently\.sql/);
        const pending = ALL.filter((f) => prefix(f) > Number(history.firstRelease.split("_")[0]));
        assert.match(status, new RegExp(`\\n${pending.length} pending\\n$`));
        assert.deepEqual(status.split("\n").filter((l) => l.startsWith("pending ")).map((l) => l.split(/\s+/)[1]), pending);

        // Pulumi creates a step for the renamed file (its resource name changed) and for each pending one.
        const renamedOut = migrate(["up", "--dir", MIGRATIONS, "--through-file", "021_trade_tags.sql", "--baseline", history.baseline], taken.url, "r2");
        assert.match(renamedOut, /021_trade_tags\.sql is 021_tags\.sql renamed after it was applied \(same checksum\): now tracked under the new name, not applied again/);
        assert.match(renamedOut, /applied 0, .* renamed 1/);
        const outputs = pending.map((f) => migrate(["up", "--dir", MIGRATIONS, "--through-file", f, "--baseline", history.baseline], taken.url, "r2"));
        pending.forEach((f, i) => assert.match(outputs[i], new RegExp(`^applied ${f.replace(/\./g, "\\.")} in \\d+ ms\\napplied 1, `, "m")));
        const byFile = Object.fromEntries(pending.map((f, i) => [f, outputs[i]]));
        assert.match(byFile["023_backfill_trade_tags.sql"], /runs statement by statement outside a transaction, as psql -f runs it: the file controls its own transactions \(BEGIN at line 2\)/);
        assert.match(byFile["023_trade_tags_index_concurrently.sql"], /outside a transaction, as psql -f runs it: CREATE INDEX CONCURRENTLY \(line 2\)/);
        assert.match(byFile["024_archived_trades.sql"], /outside a transaction, as psql -f runs it: ALTER TYPE … ADD VALUE \(line 2\)/);

        const tracked = await sql(taken.url, "SELECT file, baseline, release_id, applied_as FROM gatehouse_migrations ORDER BY file COLLATE \"C\"");
        assert.deepEqual(
            tracked.map((r) => [r.file, r.baseline, r.release_id, r.applied_as]),
            ALL.map((f) => [f, prefix(f) <= Number(history.baseline), first.includes(f) ? "r1" : "r2", oldNames[f] ?? null]),
        );
        const [counts] = await sql(taken.url, "SELECT (SELECT count(*) FROM trade_tags)::int AS tagged, (SELECT count(*) FROM trades WHERE status = 'archived')::int AS archived");
        assert.equal(counts.tagged, 1000);
        assert.ok(counts.archived > 0, "024 archived the trades older than two years");

        psqlLoop(MIGRATIONS, looped.url);
        assert.equal(schemaOf(taken.url), schemaOf(looped.url));
        assert.match(schemaOf(looped.url), /CREATE INDEX trade_tags_tag_idx/, "the dump holds the schema (sanity check of the comparison)");

        const again = migrate(["up", "--dir", MIGRATIONS, "--baseline", history.baseline], taken.url, "r3");
        assert.match(again, /no pending migrations\napplied 0, already applied 19\n$/);
    });
});
