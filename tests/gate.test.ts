import { strict as assert } from "assert";
import * as http from "http";
import * as path from "path";
import { GateSpec, formatGateReport, runGate } from "../components/release/gate";
import { readGateSpec } from "../components/release/gateSpec";

type Handler = (req: http.IncomingMessage, body: string, at: number) => { status: number; body?: unknown; delayMs?: number };

/** A real HTTP server on loopback; records every request it answered. */
async function serve(handler: Handler): Promise<{ url: string; log: { at: number; path: string; status: number }[]; close(): Promise<void> }> {
    const log: { at: number; path: string; status: number }[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => {
            // One clock reading decides the answer and dates the log entry.
            const at = Date.now();
            const out = handler(req, body, at);
            const send = () => {
                if (res.destroyed) return;
                log.push({ at, path: req.url ?? "", status: out.status });
                res.writeHead(out.status, { "Content-Type": "application/json" });
                res.end(out.body === undefined ? "" : typeof out.body === "string" ? out.body : JSON.stringify(out.body));
            };
            out.delayMs ? setTimeout(send, out.delayMs) : send();
        });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as any;
    return {
        url: `http://127.0.0.1:${port}`,
        log,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
    };
}

const oneCheck = (check: Partial<GateSpec["checks"][0]>, spec: Partial<GateSpec> = {}): GateSpec => ({
    deadlineSeconds: 2,
    intervalMs: 50,
    ...spec,
    checks: [{ name: "health", request: { path: "/health" }, expect: { status: 200 }, ...check }],
});

describe("health gate (real HTTP on loopback)", () => {
    let server: Awaited<ReturnType<typeof serve>> | undefined;
    afterEach(async () => {
        await server?.close();
        server = undefined;
    });

    it("passes on the first attempt after the app turns healthy", async () => {
        let healthyAt = Infinity;
        server = await serve((_req, _body, at) => ({ status: at >= healthyAt ? 200 : 503 }));
        setTimeout(() => (healthyAt = Date.now()), 300);
        const report = await runGate(server.url, oneCheck({}, { intervalMs: 100, deadlineSeconds: 10 }));
        assert.equal(report.passed, true);
        const afterFlip = server.log.filter((r) => r.at >= healthyAt);
        // Failing attempts are spaced one interval apart; the first request after the flip passes.
        assert.deepEqual(afterFlip.map((r) => r.status), [200]);
        assert.ok(report.checks[0].attempts >= 2);
    });

    it("fails on 5xx with a report giving status, latency and a body excerpt", async () => {
        server = await serve(() => ({ status: 502, body: { error: "bad gateway from upstream" } }));
        const report = await runGate(server.url, oneCheck({}, { deadlineSeconds: 0.3 }));
        assert.equal(report.passed, false);
        const [check] = report.checks;
        assert.equal(check.result, "failed");
        assert.equal(check.last?.status, 502);
        assert.equal(check.last?.failure, "status 502, expected 200");
        assert.equal(check.last?.bodyExcerpt, '{"error":"bad gateway from upstream"}');
        const text = formatGateReport(server.url, report);
        assert.match(text, /health gate FAILED against http:\/\/127\.0\.0\.1:\d+ in \d+ ms:/);
        assert.match(text, /FAIL health: failed after \d+ attempt\(s\) — status 502, \d+ ms, status 502, expected 200, body: \{"error":"bad gateway from upstream"\}/);
    });

    it("fails on a timeout and says so", async () => {
        server = await serve(() => ({ status: 200, delayMs: 1000 }));
        const report = await runGate(server.url, oneCheck({ timeoutMs: 100 }, { deadlineSeconds: 0.5 }));
        assert.equal(report.passed, false);
        assert.match(report.checks[0].last?.error ?? "", /^timed out after \d+ ms$/);
        assert.equal(report.checks[0].last?.status, undefined);
    });

    it("fails on a wrong body and names the JSON path", async () => {
        server = await serve(() => ({ status: 200, body: { email: "someone-else@example.com" } }));
        const report = await runGate(server.url, oneCheck({ expect: { status: 200, json: { "$.email": "smoke@example.com" } } }, { deadlineSeconds: 0.3 }));
        assert.equal(report.passed, false);
        assert.equal(report.checks[0].last?.failure, '$.email is "someone-else@example.com", expected "smoke@example.com"');
    });

    it("fails a flapping endpoint: repeat needs consecutive passes and a failure resets the count", async () => {
        let n = 0;
        server = await serve(() => ({ status: n++ % 2 === 0 ? 200 : 500 }));
        const report = await runGate(server.url, oneCheck({ repeat: 2 }, { deadlineSeconds: 0.6 }));
        assert.equal(report.passed, false);
        assert.ok(report.checks[0].attempts >= 4, `only ${report.checks[0].attempts} attempts`);
        assert.ok(server.log.filter((r) => r.status === 200).length >= 2, "it passed more than once, never twice in a row");
    });

    it("names the failing check and lists later ones as not run", async () => {
        server = await serve((req) => ({ status: req.url === "/b" ? 500 : 200 }));
        const report = await runGate(server.url, {
            deadlineSeconds: 0.3,
            intervalMs: 50,
            checks: ["a", "b", "c"].map((n) => ({ name: n, request: { path: `/${n}` }, expect: { status: 200 } })),
        });
        assert.deepEqual(report.checks.map((c) => c.result), ["passed", "failed", "not run"]);
    });

    it("captures a value and reuses it in a later request and expectation", async () => {
        server = await serve((req, body) => {
            if (req.url === "/login") return { status: 200, body: { token: `t-${JSON.parse(body).email}` } };
            if (req.url === "/me") {
                return req.headers.authorization === "Bearer t-smoke@example.com"
                    ? { status: 200, body: { email: "smoke@example.com", smoke: req.headers["x-gatehouse-smoke-test"] } }
                    : { status: 401 };
            }
            return { status: 404 };
        });
        const report = await runGate(
            server.url,
            {
                deadlineSeconds: 2,
                intervalMs: 50,
                headers: { "X-Gatehouse-Smoke-Test": "${release}" },
                checks: [
                    { name: "login", request: { method: "POST", path: "/login", body: { email: "smoke@example.com" } }, expect: { status: [200] }, capture: { token: "$.token" } },
                    { name: "me", request: { path: "/me", headers: { Authorization: "Bearer ${token}" } }, expect: { status: 200, json: { "$.email": "smoke@example.com", "$.smoke": "${release}" } } },
                ],
            },
            { release: "r42" },
        );
        assert.equal(report.passed, true, formatGateReport(server.url, report));
    });

    it("reports an unreachable app as the connection error", async () => {
        server = await serve(() => ({ status: 200 }));
        const url = server.url;
        await server.close();
        server = undefined;
        const report = await runGate(url, oneCheck({}, { deadlineSeconds: 0.2 }));
        assert.equal(report.passed, false);
        assert.match(report.checks[0].last?.error ?? "", /ECONNREFUSED/);
    });

    it("ships valid specs for both apps and rejects a spec that uses an unknown variable", () => {
        for (const file of ["kifu.smoke.yaml", "routine.smoke.yaml"]) {
            const spec = readGateSpec(path.join(__dirname, "..", "checks", file));
            assert.ok(spec.checks.length >= 6, file);
        }
        const fs = require("fs");
        const bad = path.join(require("os").tmpdir(), `gh-gate-${process.pid}.yaml`);
        fs.writeFileSync(bad, "checks:\n  - name: me\n    request: { path: /me, headers: { Authorization: 'Bearer ${token}' } }\n    capture: { token: 'token' }\n");
        assert.throws(() => readGateSpec(bad), (err: any) => {
            assert.match(err.message, /checks\[0\] \(me\)\.request: \$\{token\} is not a built-in, a var, or captured by an earlier check/);
            assert.match(err.message, /JSON path token must start with \$/);
            return true;
        });
    });
});

describe("health gate report", () => {
    it("keeps the last complete attempt when the deadline cuts the final one short", async () => {
        let n = 0;
        const server = http.createServer((_req, res) => {
            // Answers fast with 503, except every third request, which hangs past the deadline.
            if (n++ % 3 === 2) return;
            res.writeHead(503);
            res.end("warming up");
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        try {
            const url = `http://127.0.0.1:${(server.address() as any).port}`;
            const report = await runGate(url, { deadlineSeconds: 0.4, intervalMs: 20, checks: [{ name: "health", request: { path: "/health" }, expect: { status: 200 } }] });
            assert.equal(report.passed, false);
            assert.equal(report.checks[0].last?.status, 503);
            assert.equal(report.checks[0].last?.bodyExcerpt, "warming up");
        } finally {
            server.closeAllConnections();
            server.close();
        }
    });
});
