import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { bindable, ensureLocalPostgres } from "../components/local/embeddedPostgres";
import { ensureCliBuild } from "../components/release/cliBuild";
import { REPO_ROOT } from "./harness/stackConfig";
import { freeStackPorts } from "./helpers/ports";

// A port the local stack needs is taken by someone else: one clear error each,
// and nothing of ours left running.
describe("the local stack's ports, taken by someone else", function () {
    this.timeout(120_000);
    const squat = (port: number) =>
        new Promise<net.Server>((resolve) => {
            const server = net.createServer((socket) => socket.end("not PostgreSQL, not your app\n"));
            server.listen(port, "127.0.0.1", () => resolve(server));
        });

    it("a slot's port: deploy fails naming the port and starts nothing", async () => {
        ensureCliBuild();
        const edge = await freeStackPorts();
        const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-ports-"));
        const squatter = await squat(edge + 1); // blue's port
        try {
            const result = spawnSync("node", [".gatehouse/build/local-app.js", "deploy", "--state-dir", stateDir, "--port", String(edge), "--release", "r1", "--", "node", ".gatehouse/build/demo-server.js"], {
                cwd: REPO_ROOT,
                encoding: "utf8",
                env: { ...process.env, DATABASE_URL: "postgres://postgres@127.0.0.1:5432/postgres", JWT_SECRET: "x", KIFU_ENC_KEY: Buffer.alloc(32).toString("base64") },
            });
            assert.equal(result.status, 1, result.stdout + result.stderr);
            assert.match(result.stderr, new RegExp(`^local-app: port ${edge + 1} is in use by another process; stop it or set localAppPort \\(the slots use localAppPort\\+1 and \\+2\\)`));
            assert.ok(!fs.existsSync(path.join(stateDir, "slot-blue.pid")), "no slot was started");
        } finally {
            spawnSync("node", [".gatehouse/build/local-app.js", "stop", "--state-dir", stateDir, "--port", String(edge)], { cwd: REPO_ROOT });
            squatter.close();
            fs.rmSync(stateDir, { recursive: true, force: true });
        }
    });

    it("the edge's port: deploy fails naming it", async () => {
        ensureCliBuild();
        const edge = await freeStackPorts();
        const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-ports-"));
        const squatter = await squat(edge);
        try {
            const result = spawnSync("node", [".gatehouse/build/local-app.js", "deploy", "--state-dir", stateDir, "--port", String(edge), "--release", "r1", "--", "true"], { cwd: REPO_ROOT, encoding: "utf8" });
            assert.equal(result.status, 1, result.stdout + result.stderr);
            assert.match(result.stderr, new RegExp(`^local-app: port ${edge} is in use by another process, not this stack's edge; stop it or set localAppPort`));
            assert.ok(!fs.existsSync(path.join(stateDir, "edge.pid")), "no edge was started");
        } finally {
            squatter.close();
            fs.rmSync(stateDir, { recursive: true, force: true });
        }
    });

    it("the edge's port, with an app that starts: deploy fails naming the edge and stops the slot it started", async () => {
        ensureCliBuild();
        const edge = await freeStackPorts();
        const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-ports-"));
        const squatter = await squat(edge);
        // The edge and the slot start together (a first deploy); the slot must not outlive the edge's failure.
        const app = ["node", "-e", "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)"];
        try {
            const result = spawnSync("node", [".gatehouse/build/local-app.js", "deploy", "--state-dir", stateDir, "--port", String(edge), "--release", "r1", "--", ...app], { cwd: REPO_ROOT, encoding: "utf8" });
            assert.equal(result.status, 1, result.stdout + result.stderr);
            assert.match(result.stderr, new RegExp(`^local-app: port ${edge} is in use by another process, not this stack's edge; stop it or set localAppPort`));
            assert.match(result.stdout, /started release r1 on blue/, "the slot did start beside the edge");
            assert.match(result.stdout, /stopped blue \(release r1/);
            assert.ok(!fs.existsSync(path.join(stateDir, "slot-blue.pid")), "the slot's record is gone");
            assert.ok(await bindable(edge + 1), "nothing listens on the slot's port any more");
        } finally {
            spawnSync("node", [".gatehouse/build/local-app.js", "stop", "--state-dir", stateDir, "--port", String(edge)], { cwd: REPO_ROOT });
            squatter.close();
            fs.rmSync(stateDir, { recursive: true, force: true });
        }
    });

    it("the embedded PostgreSQL's port: one error naming the port and the key to change, nothing initialised or started", async () => {
        const port = await freeStackPorts();
        const parent = fs.mkdtempSync(path.join(os.tmpdir(), "gh-pgport-"));
        fs.chmodSync(parent, 0o755); // as root, PostgreSQL runs as the postgres user, who must reach the data directory
        const dataDir = path.join(parent, "pg");
        const squatter = await squat(port);
        try {
            await assert.rejects(ensureLocalPostgres({ dataDir, port, database: "kifu" }), (err: any) => {
                assert.match(err.message, new RegExp(`^port ${port} is in use by another process that is not this stack's PostgreSQL; stop it or set localPostgresPort`));
                return true;
            });
            assert.ok(!fs.existsSync(dataDir), "nothing initialised");
        } finally {
            squatter.close();
            fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
        }
    });
});
