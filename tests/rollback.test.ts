import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { HistoryEntry, chooseTarget, configDifference, formatDifference, refuseUncommittedChanges } from "../components/rollback";
import { earlyTarget } from "../scripts/lib/backendFiles";

// History in the shape `pulumi stack history --json --show-secrets` prints, newest first.
const history: HistoryEntry[] = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "history", "prod.history.json"), "utf8"));

describe("rollback decisions", () => {
    it("picks the last successful update before the current one, skipping previews and failures", () => {
        const { current, target } = chooseTarget(history);
        assert.equal(current.version, 4);
        assert.equal(target.version, 2);
    });

    it("honours --to, and refuses a failed, current or unknown update", () => {
        assert.equal(chooseTarget(history, 2).target.version, 2);
        assert.throws(() => chooseTarget(history, 1), /update 1 failed; roll back only to an update that succeeded/);
        assert.throws(() => chooseTarget(history, 4), /update 4 is the current one/);
        assert.throws(() => chooseTarget(history, 9), /there is no update 9 in the stack's history \(updates: 4, 2, 1\)/);
    });

    it("refuses when there is no earlier successful update, no update at all, or one still running", () => {
        assert.throws(() => chooseTarget(history.filter((h) => h.version !== 2)), /no successful update before update 4/);
        assert.throws(() => chooseTarget([]), /the stack has no update in its history/);
        assert.throws(() => chooseTarget([{ ...history[0], result: "in-progress" }, history[2]]), /update 4 is still in progress/);
    });

    it("shows the config difference with secrets masked: the slot flips back and the relaxed AI limits return", () => {
        const { current, target } = chooseTarget(history);
        const changes = configDifference(current.config, target.config);
        assert.deepEqual(changes.map((c) => [c.key, c.change]), [
            ["gatehouse:JWT_SECRET", "changed"],
            ["gatehouse:backendEnv", "changed"],
            ["gatehouse:backendImage", "changed"],
            ["gatehouse:backendStandbyImage", "removed"],
            ["gatehouse:liveSlot", "changed"],
            ["gatehouse:release", "changed"],
        ]);
        const text = formatDifference(current, target, changes);
        assert.match(text, /^Roll back from update 4 \(failed\) to update 2 \(succeeded 2026-11-15T08:00:00\.000Z\):/);
        assert.match(text, /  ~ gatehouse:JWT_SECRET: \(secret changed\)/);
        assert.match(text, /  ~ gatehouse:liveSlot: green -> blue/);
        assert.match(text, /AI_REQUIRE_ALLOWLIST=false.*-> .*AI_REQUIRE_ALLOWLIST=true/);
        assert.ok(!text.includes("jwt-v1") && !text.includes("jwt-v2-rotated") && !text.includes("enc-v1"), "no secret value is printed");
    });

    it("refuses when the stack has config changes the current update did not release", () => {
        const current = history[0];
        const stackConfig = { ...current.config, "gatehouse:AI_RATE_LIMIT_BURST": { value: "50", secret: false } };
        assert.throws(() => refuseUncommittedChanges(stackConfig, current), /the stack's config has changes not released by update 4 \(gatehouse:AI_RATE_LIMIT_BURST\)/);
        assert.doesNotThrow(() => refuseUncommittedChanges(current.config, current));
    });

    it("refuses to compare secrets it was not given", () => {
        const blinded = JSON.parse(JSON.stringify(history)) as HistoryEntry[];
        delete blinded[0].config["gatehouse:JWT_SECRET"].value;
        assert.throws(() => configDifference(blinded[0].config, blinded[2].config), /the history does not include secret values/);
    });
});

describe("rollback's early target, read from a file backend's files", () => {
    // The layout Pulumi's file backend (pkg/backend/diy) writes: one history file per finished
    // update, named by its start in unix nanoseconds, and a lock file while an update runs.
    let root: string;
    const stackName = "local";
    const write = (file: string, text: string) => {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text);
    };
    const historyDir = () => path.join(root, "state", ".pulumi", "history", "gatehouse", stackName);
    const update = (at: bigint, result: string, config: Record<string, unknown>) =>
        write(path.join(historyDir(), `${stackName}-${at}.history.json`), JSON.stringify({ kind: "update", startTime: Number(at / 1_000_000_000n), result, config, version: 0 }));
    const stackFile = (config: Record<string, unknown>) => write(path.join(root, "project", `Pulumi.${stackName}.yaml`), `config:\n${Object.entries(config).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join("\n")}\n`);
    const early = (to?: number) => earlyTarget({ backendUrl: `file://${path.join(root, "state")}`, workDir: path.join(root, "project"), stack: stackName, to });
    const config = (release: string) => ({ "gatehouse:release": release, "gatehouse:workerEnv": ["A=1"], "gatehouse:JWT_SECRET": { secure: "v1:abc" } });
    const released = (release: string) => ({ ...config(release), "gatehouse:target": "local", "gatehouse:bakeSeconds": "30" });

    beforeEach(() => {
        root = fs.mkdtempSync(path.join(require("os").tmpdir(), "gh-backend-files-"));
        // The CLI records Pulumi.yaml's defaults in each update's config: they count as configured.
        write(path.join(root, "project", "Pulumi.yaml"), "name: gatehouse\nruntime: nodejs\nconfig:\n  target:\n    type: string\n    default: local\n  bakeSeconds:\n    type: integer\n    default: 30\n  release:\n    type: string\n");
        // Nine digits of nanoseconds after the seconds: 1 s, 2 s, ... and one at 10 s (a longer number sorts later, not first).
        update(1_000_000_000n, "succeeded", released("r1"));
        update(2_000_000_000n, "succeeded", released("r2"));
        update(3_000_000_000n, "failed", released("r3"));
        update(10_000_000_000n, "succeeded", released("r4"));
        stackFile(config("r4"));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it("names the update chooseTarget names: the last successful one before the current, or --to", () => {
        const found = early();
        assert.ok(!("unknown" in found), JSON.stringify(found));
        assert.equal(found.version, 2);
        assert.equal(found.config["gatehouse:release"].value, "r2");
        assert.deepEqual(found.config["gatehouse:workerEnv"].objectValue, ["A=1"]);
        assert.equal(found.config["gatehouse:JWT_SECRET"].secret, true);
        const first = early(1);
        assert.ok(!("unknown" in first) && first.config["gatehouse:release"].value === "r1");
    });

    it("says it cannot tell, never guesses: a running update, unreleased config, another backend, no history, a refused --to", () => {
        write(path.join(root, "state", ".pulumi", "locks", "gatehouse", stackName, "lock.json"), "{}");
        assert.match((early() as { unknown: string }).unknown, /an update holds the stack's lock/);
        fs.rmSync(path.join(root, "state", ".pulumi", "locks"), { recursive: true });

        stackFile({ ...config("r4"), "gatehouse:bakeSeconds": 5 });
        assert.match((early() as { unknown: string }).unknown, /the stack's config differs from what update 4 released \(gatehouse:bakeSeconds\)/);
        stackFile({ ...config("r4"), "gatehouse:JWT_SECRET": { secure: "v1:other" } });
        assert.match((early() as { unknown: string }).unknown, /differs .*gatehouse:JWT_SECRET/);
        stackFile(config("r4"));

        assert.match((earlyTarget({ backendUrl: "https://api.pulumi.com", workDir: path.join(root, "project"), stack: stackName }) as { unknown: string }).unknown, /not a local file backend/);
        assert.match((early(3) as { unknown: string }).unknown, /update 3 failed/);
        fs.rmSync(historyDir(), { recursive: true });
        assert.match((early() as { unknown: string }).unknown, /could not be read as expected/);
    });
});
