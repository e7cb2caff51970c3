import { strict as assert } from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { freePort } from "../components/local/embeddedPostgres";
import { edgeRequest } from "../components/local/edge";
import { ensureCliBuild } from "../components/release/cliBuild";
import { REPO_ROOT } from "./harness/stackConfig";

// The local edge as a separate process (as the stack runs it) in front of two
// slots that answer slowly, so requests are in flight at every switch.
describe("the local edge", function () {
    this.timeout(60_000);
    let stateDir: string;
    let edgePort: number;
    let edge: ChildProcess;
    const slots: http.Server[] = [];
    const slotPorts: Record<string, number> = {};

    before(async () => {
        ensureCliBuild();
        stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-edge-"));
        edgePort = await freePort();
        for (const [slot, release] of [["blue", "r1"], ["green", "r2"]]) {
            const server = http.createServer((req, res) => {
                if (req.url === "/health") return void res.end(JSON.stringify({ release }));
                // 20-60 ms per answer: a switch always finds requests in flight.
                setTimeout(() => res.end(JSON.stringify({ release })), 20 + Math.random() * 40);
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            slots.push(server);
            slotPorts[slot] = (server.address() as any).port;
        }
        edge = await startEdge();
    });
    after(() => {
        edge?.kill("SIGTERM");
        for (const s of slots) s.close();
        fs.rmSync(stateDir, { recursive: true, force: true });
    });

    const startEdge = async (): Promise<ChildProcess> => {
        const child = spawn(process.execPath, [".gatehouse/build/local-app.js", "edge", "--state-dir", stateDir, "--port", String(edgePort)], { cwd: REPO_ROOT, stdio: "ignore" });
        const deadline = Date.now() + 10_000;
        while (!(await edgeRequest(stateDir, "GET", "/status").then(() => true, () => false))) {
            if (Date.now() > deadline) throw new Error("the edge did not start");
            await new Promise((r) => setTimeout(r, 50));
        }
        return child;
    };
    const switchTo = (slot: string, release: string, port = slotPorts[slot]) => edgeRequest(stateDir, "POST", "/switch", { slot, port, release, healthPath: "/health" });

    it("answers 503 with a reason before any release is promoted", async () => {
        const answer = await get(`http://127.0.0.1:${edgePort}/`);
        assert.equal(answer.status, 503);
        assert.equal(JSON.parse(answer.body).code, "NO_LIVE_SLOT");
    });

    it("refuses to switch to a slot that is not up, and keeps serving what it served", async () => {
        assert.equal((await switchTo("blue", "r1")).status, 200);
        const refused = await switchTo("green", "r2", await freePort());
        assert.equal(refused.status, 409);
        assert.match(refused.body.message, /slot green \(port \d+\) is not up: \/health answered ECONNREFUSED; the edge still serves blue \(release r1/);
        assert.equal(JSON.parse((await get(`http://127.0.0.1:${edgePort}/`)).body).release, "r1");
    });

    it("switches back and forth under a client loop of 8 clients: no request fails", async () => {
        let stop = false;
        const results: { status: number; release: string }[] = [];
        const client = async () => {
            while (!stop) {
                const answer = await get(`http://127.0.0.1:${edgePort}/work`).catch((err) => ({ status: 0, body: String(err), headers: {} }));
                results.push({ status: answer.status, release: answer.status === 200 ? JSON.parse(answer.body).release : answer.body });
            }
        };
        const clients = Array.from({ length: 8 }, client);
        for (let i = 0; i < 10; i++) {
            await new Promise((r) => setTimeout(r, 50));
            const [slot, release] = i % 2 === 0 ? ["green", "r2"] : ["blue", "r1"];
            assert.equal((await switchTo(slot, release)).status, 200);
            // Once the switch answered, every new request goes to the new slot.
            assert.equal(JSON.parse((await get(`http://127.0.0.1:${edgePort}/work`)).body).release, release);
        }
        await new Promise((r) => setTimeout(r, 100));
        stop = true;
        await Promise.all(clients);
        assert.ok(results.length > 100, `only ${results.length} requests were sent`);
        assert.deepEqual(results.filter((r) => r.status !== 200), [], "failed requests");
        assert.deepEqual([...new Set(results.map((r) => r.release))].sort(), ["r1", "r2"]);
    });

    it("a restarted edge serves the slot it served before (its state survives it)", async () => {
        edge.kill("SIGTERM");
        await new Promise((r) => edge.once("exit", r));
        edge = await startEdge();
        const answer = await get(`http://127.0.0.1:${edgePort}/work`);
        assert.equal(JSON.parse(answer.body).release, "r1");
        assert.equal(answer.headers["x-gatehouse-slot"], "blue");
    });
});

function get(url: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
        http.get(url, { agent: false }, (res) => {
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        }).on("error", reject);
    });
}
