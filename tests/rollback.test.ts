import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { HistoryEntry, chooseTarget, configDifference, formatDifference, refuseUncommittedChanges } from "../components/rollback";

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
