import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { freePort } from "../components/local/embeddedPostgres";
import { RedisUnavailable, ensureLocalRedis } from "../components/local/redis";
import { stopProcessGroup } from "../components/local/processes";

// Where a local stack's Redis comes from: configured, the machine's, one we
// start, or one clear error. Real redis-server processes (Debian's package).
describe("the local stack's Redis", function () {
    this.timeout(30_000);
    let stateDir: string;
    beforeEach(() => (stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-redis-"))));
    afterEach(async () => {
        const pid = path.join(stateDir, "redis.pid");
        if (fs.existsSync(pid)) await stopProcessGroup(Number(fs.readFileSync(pid, "utf8")));
        fs.rmSync(stateDir, { recursive: true, force: true });
    });

    it("uses localRedisUrl as given", async () => {
        assert.deepEqual(await ensureLocalRedis({ configuredUrl: "rediss://cache.example:6380", stateDir }), { url: "rediss://cache.example:6380", source: "configured" });
    });

    it("uses the machine's Redis on 127.0.0.1:6379 when it answers PING", async function () {
        const found = await ensureLocalRedis({ stateDir });
        if (found.source !== "machine") this.skip(); // no Redis on 6379 on this machine
        assert.equal(found.url, "redis://127.0.0.1:6379");
    });

    it("else starts redis-server from PATH on a free port, data under the stack's directory, and finds it again", async function () {
        const closed = await freePort();
        const started = await ensureLocalRedis({ stateDir, machinePort: closed });
        assert.equal(started.source, "started");
        assert.match(started.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
        assert.ok(fs.existsSync(path.join(stateDir, "redis")), "data directory");
        assert.ok(fs.existsSync(path.join(stateDir, "redis.pid")), "pid file for down:local");
        const again = await ensureLocalRedis({ stateDir, machinePort: closed });
        assert.deepEqual(again, started, "the second run finds the one it started");
    });

    it("with no Redis anywhere, one error that names the install command", async () => {
        const path0 = process.env.PATH;
        process.env.PATH = "/nonexistent";
        try {
            await assert.rejects(ensureLocalRedis({ stateDir, machinePort: await freePort() }), (err: any) => {
                assert.ok(err instanceof RedisUnavailable);
                assert.match(err.message, /no Redis for this stack: localRedisUrl is not set, nothing answers on 127\.0\.0\.1:\d+, and redis-server is not on PATH/);
                assert.match(err.message, /fix: install it \(Debian: apt-get install redis-server\)/);
                return true;
            });
        } finally {
            process.env.PATH = path0;
        }
        assert.ok(!fs.existsSync(path.join(stateDir, "redis.pid")), "nothing half-started");
    });
});
