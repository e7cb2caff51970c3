import { strict as assert } from "assert";
import * as http from "http";
import * as path from "path";
import { runGate } from "../components/release/gate";
import { runDate } from "../components/release/gateVars";
import { bindGateSpec } from "../components/release/gateBinding";
import { formatGateReport } from "../components/release/gateReport";
import type { GateSpec } from "../components/release/gateSchema";
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
        assert.match(text, /^health gate FAILED against http:\/\/127\.0\.0\.1:\d+ in \d+ ms — 1 check: 1 run, 0 passed, 1 failed, 0 not run:/);
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

    it("counts in its first line the checks run, passed, failed, skipped and not run", async () => {
        server = await serve((req) => ({ status: req.url === "/c" ? 500 : 200 }));
        const report = await runGate(server.url, {
            deadlineSeconds: 0.3,
            intervalMs: 50,
            conditions: { never: { config: { environment: "nowhere" } } },
            stack: { config: { environment: "production" }, env: {} },
            checks: [
                { name: "a", request: { path: "/a" } },
                { name: "b", when: "never", request: { path: "/b" } },
                { name: "c", request: { path: "/c" } },
                { name: "d", request: { path: "/d" } },
            ],
        });
        const [first] = formatGateReport(server.url, report).split("\n");
        assert.match(first, /^health gate FAILED against http:\/\/127\.0\.0\.1:\d+ in \d+ ms — 4 checks: 2 run, 1 passed, 1 failed, 1 skipped, 1 not run:$/);
    });

    it("stops a check early when the app gives the same wrong answer 3 times in a row, instead of waiting for the deadline", async () => {
        server = await serve(() => ({ status: 200, body: { status: "degraded" } }));
        const t0 = Date.now();
        const report = await runGate(server.url, oneCheck({ expect: { status: 200, json: { "$.status": "healthy" } } }, { deadlineSeconds: 30, intervalMs: 20 }));
        assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
        assert.equal(report.passed, false);
        assert.equal(report.checks[0].attempts, 3);
        assert.equal(server.log.length, 3);
        assert.equal(report.checks[0].reason, "stopped after 3 identical answers in a row (status 200, the same body): the app answers, and retrying until the deadline would not change it");
        assert.match(formatGateReport(server.url, report), /FAIL health: failed after 3 attempt\(s\) — status 200, \d+ ms, \$\.status is "degraded", expected "healthy", body: \{"status":"degraded"\}; stopped after 3 identical answers/);
    });

    it("keeps retrying until the deadline while the app starts or flaps: an edge's 502/503/504, a refused connection, answers that differ, a pass in between", async () => {
        const retried = async (handler: Handler) => {
            server = await serve(handler);
            const report = await runGate(server.url, oneCheck({}, { deadlineSeconds: 0.6, intervalMs: 20 }));
            await server.close();
            server = undefined;
            assert.equal(report.passed, false);
            assert.equal(report.checks[0].reason, undefined, "not stopped early");
            return report.checks[0].attempts;
        };
        for (const status of [502, 503, 504]) assert.ok((await retried(() => ({ status, body: { code: "SLOT_UNREACHABLE" } }))) > 5, `${status}`);
        let n = 0;
        assert.ok((await retried(() => ({ status: 500, body: { attempt: n++ } }))) > 5, "bodies that differ");
        let m = 0;
        // 500, 500, 200, 500, 500, 200, ...: never 3 identical in a row. With repeat 1 it passes at the 200.
        server = await serve(() => ({ status: m++ % 3 === 2 ? 200 : 500 }));
        const flapping = await runGate(server.url, oneCheck({ repeat: 2 }, { deadlineSeconds: 0.6, intervalMs: 20 }));
        assert.equal(flapping.checks[0].reason, undefined);
        assert.ok(flapping.checks[0].attempts > 5);
        const closed = await serve(() => ({ status: 200 }));
        const url = closed.url;
        await closed.close();
        const refused = await runGate(url, oneCheck({}, { deadlineSeconds: 0.6, intervalMs: 20 }));
        assert.ok(refused.checks[0].attempts > 5 && refused.checks[0].reason === undefined);
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

/** A spec file in a temporary directory. */
function specFile(yaml: string): string {
    const fs = require("fs") as typeof import("fs");
    const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "gh-gate-spec-"));
    const file = path.join(dir, "gate.yaml");
    fs.writeFileSync(file, yaml);
    return file;
}

const health = { name: "health", request: { path: "/health" }, expect: { status: 200 } };

describe("health gate: what is sent once, what waits, what is skipped", () => {
    let server: Awaited<ReturnType<typeof serve>> | undefined;
    afterEach(async () => {
        await server?.close();
        server = undefined;
    });

    it("sends a POST exactly once: a wrong answer fails the gate instead of being retried into a 409", async () => {
        let posts = 0;
        // Wrong status on the first POST (the user is created anyway), right afterwards: a retry would pass or get 409.
        server = await serve((req) => (req.method === "POST" ? { status: posts++ === 0 ? 500 : 200, body: { code: "INTERNAL_ERROR" } } : { status: 200 }));
        const report = await runGate(server.url, {
            deadlineSeconds: 5,
            intervalMs: 20,
            checks: [health, { name: "register", request: { method: "POST", path: "/register", body: { email: "a" } }, expect: { status: 200 }, creates: "user a" }],
        });
        assert.equal(report.passed, false);
        assert.equal(posts, 1, "the POST was sent once");
        assert.deepEqual(report.leftovers, ["maybe user a (the check failed after sending)"], "what it may have created is listed");
        assert.deepEqual(report.checks.map((c) => [c.result, c.attempts]), [["passed", 1], ["failed", 1]]);
        assert.match(formatGateReport(server.url, report), /FAIL register: failed after 1 attempt\(s\) — status 500, \d+ ms, status 500, expected 200, body: \{"code":"INTERNAL_ERROR"\}; not retried: POST is not idempotent, a second attempt could act twice/);
    });

    it("waits for the app with the idempotent checks first, then sends each POST once", async () => {
        let upAt = Infinity;
        server = await serve((req, _body, at) => (at < upAt ? { status: 503 } : { status: req.method === "POST" ? 201 : 200 }));
        setTimeout(() => (upAt = Date.now()), 200);
        const report = await runGate(server.url, {
            deadlineSeconds: 10,
            intervalMs: 20,
            checks: [health, { name: "create", request: { method: "POST", path: "/things", body: {} }, expect: { status: 201 } }],
        });
        assert.equal(report.passed, true);
        assert.ok(report.checks[0].attempts > 1, "health was retried while the app came up");
        assert.deepEqual(server.log.filter((r) => r.path === "/things").map((r) => r.status), [201], "the POST went out once, after the app was up");
    });

    it("retries a POST the spec declares idempotent, and a DELETE is sent once by default", async () => {
        let n = 0;
        server = await serve((req) => (req.url === "/search" ? { status: n++ < 2 ? 503 : 200 } : req.method === "DELETE" ? { status: 500 } : { status: 200 }));
        const report = await runGate(server.url, {
            deadlineSeconds: 5,
            intervalMs: 20,
            checks: [
                health,
                { name: "search", idempotent: true, request: { method: "POST", path: "/search", body: { q: "x" } }, expect: { status: 200 } },
                { name: "delete", request: { method: "DELETE", path: "/things/1" }, expect: { status: 200 } },
            ],
        });
        assert.deepEqual(report.checks.map((c) => [c.name, c.result, c.attempts]), [["health", "passed", 1], ["search", "passed", 3], ["delete", "failed", 1]]);
    });

    it("reports an external check as not run where there is no route out, never as passed, and runs it where there is", async () => {
        server = await serve(() => ({ status: 200, body: [] }));
        const external = { name: "klines", external: true, request: { path: "/klines" }, expect: { status: 200 } };
        // The probe's port is closed: no route.
        const closed = await serve(() => ({ status: 200 }));
        const probe = closed.url;
        await closed.close();
        const offline = await runGate(server.url, { deadlineSeconds: 5, internetProbe: probe, checks: [health, external] });
        assert.equal(offline.passed, true);
        assert.equal(offline.checks[1].result, "not run");
        assert.match(offline.checks[1].reason!, /^external: this machine has no route to the internet \(probe http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
        assert.ok(!server.log.some((r) => r.path === "/klines"), "the external check was not sent");
        assert.match(formatGateReport(server.url, offline), /^health gate passed against http:\/\/127\.0\.0\.1:\d+ in \d+ ms — 2 checks: 1 run, 1 passed, 1 not run:/);

        const online = await runGate(server.url, { deadlineSeconds: 5, internetProbe: server.url, checks: [health, external] });
        assert.equal(online.checks[1].result, "passed");
    });

    it("decides `when` from the stack's facts: named conditions, !, anyOf, null for unset", async () => {
        server = await serve((req) => ({ status: req.url === "/ai" ? 403 : 200, body: { code: "ALLOWLIST_REQUIRED" } }));
        const specFor = (env: Record<string, string | null>): GateSpec => ({
            deadlineSeconds: 5,
            conditions: {
                allowlistEnforced: { anyOf: [{ env: { AI_REQUIRE_ALLOWLIST: "true" } }, { env: { AI_REQUIRE_ALLOWLIST: null, APP_ENV: "production" } }] },
            },
            stack: { config: {}, env },
            checks: [
                health,
                { name: "refused", when: "allowlistEnforced", request: { method: "POST", path: "/ai", body: {} }, expect: { status: 403, json: { "$.code": "ALLOWLIST_REQUIRED" } } },
                { name: "answers", when: "!allowlistEnforced", request: { method: "POST", path: "/ai-open", body: {} }, expect: { status: 200 } },
            ],
        });
        const ran = async (env: Record<string, string | null>) => (await runGate(server!.url, specFor(env))).checks.map((c) => `${c.name}:${c.result}`);
        assert.deepEqual(await ran({ AI_REQUIRE_ALLOWLIST: "true", APP_ENV: "development" }), ["health:passed", "refused:passed", "answers:skipped"]);
        assert.deepEqual(await ran({ AI_REQUIRE_ALLOWLIST: null, APP_ENV: "production" }), ["health:passed", "refused:passed", "answers:skipped"]);
        assert.deepEqual(await ran({ AI_REQUIRE_ALLOWLIST: "false", APP_ENV: "production" }), ["health:passed", "refused:skipped", "answers:passed"]);
        assert.deepEqual(await ran({ AI_REQUIRE_ALLOWLIST: null, APP_ENV: "development" }), ["health:passed", "refused:skipped", "answers:passed"]);
        const report = await runGate(server.url, specFor({ AI_REQUIRE_ALLOWLIST: "true" }));
        assert.match(formatGateReport(server.url, report), /skip answers: skipped — when !allowlistEnforced does not hold for this stack/);
    });

    it("reports a check that needs a feature the deployed version lacks (appFeatures) as not run, never sent, and runs it where the stack lists it", async () => {
        server = await serve(() => ({ status: 200, body: { checks: { database: "ok" } } }));
        const specWith = (features: string[] | undefined): GateSpec => ({
            deadlineSeconds: 5,
            stack: { config: {}, env: {}, ...(features ? { features } : {}) },
            checks: [health, { name: "readyz", needs: "readyz", request: { path: "/readyz" } }, { name: "plans", needs: ["plan-generation", "auth-resolve"], request: { method: "POST", path: "/plans", body: {} } }],
        });
        const lacking = await runGate(server.url, specWith([]));
        assert.equal(lacking.passed, true);
        assert.deepEqual(lacking.checks.map((c) => [c.name, c.result, c.reason]), [
            ["health", "passed", undefined],
            ["readyz", "not run", "the deployed version lacks readyz (appFeatures)"],
            ["plans", "not run", "the deployed version lacks plan-generation, auth-resolve (appFeatures)"],
        ]);
        assert.deepEqual(server.log.map((r) => r.path), ["/health"], "nothing it lacks was sent");
        assert.match(formatGateReport(server.url, lacking), /skip readyz: not run — the deployed version lacks readyz \(appFeatures\)/);
        assert.deepEqual((await runGate(server.url, specWith(undefined))).checks.map((c) => c.result), ["passed", "not run", "not run"], "an unbound spec has no features");
        const partly = await runGate(server.url, specWith(["readyz", "plan-generation"]));
        assert.deepEqual(partly.checks.map((c) => c.result), ["passed", "passed", "not run"]);
        assert.deepEqual((await runGate(server.url, specWith(["readyz", "plan-generation", "auth-resolve"]))).checks.map((c) => c.result), ["passed", "passed", "passed"]);
    });

    describe("a known defect declared by the stack (gateKnownDefects)", () => {
        const DEFECT = { check: "generate pack", status: 500, contains: "PACK_SAVE_FAILED", reason: "nil warnings into a NOT NULL column (summary_pack_service.go)" };
        const packSpec = (knownDefects = [DEFECT]): GateSpec => ({
            deadlineSeconds: 5,
            stack: { config: {}, env: {}, knownDefects },
            checks: [
                health,
                { name: "generate pack", request: { method: "POST", path: "/packs", body: {} }, capture: { pack_id: "$.pack_id" }, creates: "summary pack ${pack_id}" },
                { name: "pack by id", request: { path: "/packs/${pack_id}" } },
                { name: "after", request: { path: "/after" } },
            ],
        });
        const pack = (status: number, body: unknown) => serve((req) => (req.url === "/packs" ? { status, body } : { status: 200, body: { pack_id: "p1" } }));

        it("the declared failure does not fail the gate: reported as KNOWN DEFECT with the reason and the real answer; what needs its capture is not run, naming both", async () => {
            server = await pack(500, { code: "PACK_SAVE_FAILED", message: "null value in column" });
            const report = await runGate(server.url, packSpec());
            assert.equal(report.passed, true);
            assert.deepEqual(report.checks.map((c) => c.result), ["passed", "known defect", "not run", "passed"]);
            assert.equal(report.checks[2].reason, 'needs ${pack_id}, which "generate pack" would have captured (it is a known defect)');
            const text = formatGateReport(server.url, report);
            assert.match(text, /^health gate passed against \S+ in \d+ ms — 4 checks: 3 run, 2 passed, 1 known defect, 1 not run:$/m);
            assert.match(text, /\n  defect generate pack: KNOWN DEFECT \(declared: nil warnings into a NOT NULL column \(summary_pack_service\.go\)\) after 1 attempt\(s\) — status 500, \d+ ms, status 500, expected 200, body: \{"code":"PACK_SAVE_FAILED","message":"null value in column"\}/);
            assert.deepEqual(report.leftovers, ["maybe summary pack <pack_id: not captured> (the check failed after sending)"]);
        });

        it("any other failure of the check fails the gate as usual: another status, or an answer without the text", async () => {
            for (const [status, body] of [[500, { code: "INTERNAL_ERROR" }], [400, { code: "PACK_SAVE_FAILED" }]] as const) {
                server = await pack(status, body);
                const report = await runGate(server.url, packSpec());
                await server.close();
                server = undefined;
                assert.equal(report.passed, false, `${status} ${JSON.stringify(body)}`);
                assert.deepEqual(report.checks.map((c) => c.result), ["passed", "failed", "not run", "not run"]);
            }
        });

        it("a declared defect that no longer reproduces passes, and the report says to remove it", async () => {
            server = await pack(200, { pack_id: "p1" });
            const report = await runGate(server.url, packSpec());
            assert.equal(report.passed, true);
            assert.deepEqual(report.checks.map((c) => c.result), ["passed", "passed", "passed", "passed"]);
            assert.match(formatGateReport(server.url, report), /ok {3}generate pack: passed after 1 attempt\(s\) — the declared known defect \(500 PACK_SAVE_FAILED\) no longer reproduces: remove it from gateKnownDefects/);
        });

        it("an idempotent check with the declared answer stops after 3 identical answers and is reported as the defect", async () => {
            server = await serve((req) => (req.url === "/health" ? { status: 200 } : { status: 500, body: { code: "PACK_SAVE_FAILED" } }));
            const report = await runGate(server.url, { deadlineSeconds: 30, intervalMs: 20, stack: { config: {}, env: {}, knownDefects: [{ ...DEFECT, check: "latest" }] }, checks: [health, { name: "latest", request: { path: "/latest" } }] });
            assert.equal(report.passed, true);
            assert.deepEqual(report.checks.map((c) => [c.result, c.attempts]), [["passed", 1], ["known defect", 3]]);
        });
    });

    describe("a var that is a secret in production and a capture elsewhere", () => {
        // The smoke user: made once by a person in production; elsewhere resolved by the app, or the secret where it cannot.
        const userSpec = (stack: GateSpec["stack"], resolveWhen: string | null = "!production"): GateSpec => ({
            deadlineSeconds: 5,
            conditions: { production: { config: { environment: "production" } } },
            stack,
            vars: { user_id: [{ when: "production", secret: "SMOKE_USER_ID" }, { capture: "resolve the smoke user" }, { secret: "SMOKE_USER_ID" }] },
            checks: [
                health,
                { name: "resolve the smoke user", ...(resolveWhen !== null ? { when: resolveWhen } : {}), needs: "auth-resolve", request: { method: "POST", path: "/auth/resolve", body: {} }, capture: { user_id: "$.user_id" } },
                { name: "use", request: { path: "/users/${user_id}" } },
            ],
        });
        const facts = (environment: string, features: string[]) => ({ config: { environment }, env: {}, features });
        const secrets = { SMOKE_USER_ID: "11111111-1111-4111-8111-111111111111" };

        it("takes the secret in production, the capture where the check runs, and the secret where the app lacks what the check needs", async () => {
            server = await serve((req) => (req.url === "/auth/resolve" ? { status: 200, body: { user_id: "22222222-2222-4222-8222-222222222222" } } : { status: 200 }));
            const used = async (stack: GateSpec["stack"]) => {
                server!.log.length = 0;
                const report = await runGate(server!.url, userSpec(stack), { secrets });
                assert.equal(report.passed, true, formatGateReport(server!.url, report));
                return [report.checks[1].result, server!.log.filter((r) => r.path.startsWith("/users/")).map((r) => r.path.slice(7))[0]];
            };
            assert.deepEqual(await used(facts("production", ["auth-resolve"])), ["skipped", secrets.SMOKE_USER_ID]);
            assert.deepEqual(await used(facts("development", ["auth-resolve"])), ["passed", "22222222-2222-4222-8222-222222222222"]);
            assert.deepEqual(await used(facts("development", [])), ["not run", secrets.SMOKE_USER_ID]);
        });

        it("refuses to start where the capturing check would run although the var takes the secret: the capture would replace it", async () => {
            server = await serve(() => ({ status: 200, body: { user_id: "x" } }));
            const spec = userSpec(facts("production", ["auth-resolve"]), null);
            const expected = 'var user_id takes secret SMOKE_USER_ID here, and "resolve the smoke user", which captures it, runs here too: its capture would replace the var (give the check a when that excludes this stack, or put its { capture } alternative first)';
            const report = await runGate(server.url, spec, { secrets });
            assert.equal(report.problem, expected);
            assert.deepEqual(server.log, [], "nothing was sent");
            const { stack, ...unbound } = spec;
            assert.deepEqual(bindGateSpec(unbound, { config: { environment: "production", appFeatures: ["auth-resolve"] }, env: {}, hiddenEnv: [] }).problems, [expected]);
            assert.deepEqual(bindGateSpec(unbound, { config: { environment: "development", appFeatures: ["auth-resolve"] }, env: {}, hiddenEnv: [] }).problems, []);
        });
    });

    it("${runDate} is a date unique to the minute the gate run started", async () => {
        assert.equal(runDate(Date.UTC(2026, 0, 1)), "2100-01-01");
        assert.equal(runDate(Date.UTC(2026, 0, 1, 0, 0, 59)), "2100-01-01");
        assert.equal(runDate(Date.UTC(2026, 0, 1, 0, 1)), "2100-01-02");
        const t = Date.UTC(2026, 11, 8, 1, 15);
        assert.equal(Date.parse(runDate(t + 60_000)) - Date.parse(runDate(t)), 86_400_000, "the next minute, the next day");
        const dates = new Set(Array.from({ length: 5000 }, (_, i) => runDate(Date.UTC(2031, 0, 1) + i * 60_000)));
        assert.equal(dates.size, 5000);
        for (const d of dates) assert.match(d, /^(2[1-9]|[3-9]\d)\d\d-\d\d-\d\d$/);
        server = await serve(() => ({ status: 200 }));
        await runGate(server.url, { checks: [{ ...health, request: { path: "/plans/${runDate}" } }] });
        assert.match(server.log[0].path, /^\/plans\/\d{4}-\d{2}-\d{2}$/);
    });

    it("takes secrets as variables and masks them (and secret captures, and credential-like keys) in the report", async () => {
        const password = "hunter2-smoke-password";
        server = await serve((req, body) => {
            if (req.url === "/health") return { status: 200 };
            if (req.url === "/login") return { status: 200, body: { access_token: "tok-123456789", refresh_token: "ref-987654321", echo: JSON.parse(body).password } };
            return { status: 500, body: { seen: req.headers.authorization, password_hint: password } };
        });
        const spec: GateSpec = {
            deadlineSeconds: 1,
            intervalMs: 20,
            vars: { password: { secret: "SMOKE_PASSWORD" } },
            checks: [
                health,
                { name: "login", request: { method: "POST", path: "/login", body: { password: "${password}" } }, expect: { status: 200, json: { "$.echo": "wrong" } }, capture: { token: { path: "$.access_token", secret: true } } },
            ],
        };
        const failedLogin = formatGateReport(server.url, await runGate(server.url, spec, { secrets: { SMOKE_PASSWORD: password } }));
        assert.ok(!failedLogin.includes(password), failedLogin);
        assert.ok(!failedLogin.includes("tok-123456789") && !failedLogin.includes("ref-987654321"), failedLogin);
        assert.match(failedLogin, /\$\.echo is "\*\*\*", expected "wrong"/);

        spec.checks[1].expect = { status: 200 };
        spec.checks.push({ name: "me", request: { path: "/me", headers: { Authorization: "Bearer ${token}" } }, expect: { status: 200 } });
        const failedMe = formatGateReport(server.url, await runGate(server.url, spec, { secrets: { SMOKE_PASSWORD: password } }));
        assert.match(failedMe, /FAIL me: failed/);
        assert.ok(!failedMe.includes(password) && !failedMe.includes("tok-123456789"), failedMe);
        assert.match(failedMe, /"seen":"Bearer \*\*\*","password_hint":"\*\*\*"/);
    });

    it("needs only the vars of checks that run here: a secret used only by checks the deployed version lacks need not be given", async () => {
        server = await serve(() => ({ status: 200 }));
        const spec: GateSpec = {
            stack: { config: {}, env: {}, features: [] },
            vars: { user_id: { secret: "SMOKE_USER_ID" }, label: "plan of ${user_id}" },
            checks: [health, { name: "plan", needs: "plan-generation", request: { method: "POST", path: "/plans", body: { note: "${label}" } } }],
        };
        const report = await runGate(server.url, spec);
        assert.equal(report.problem, undefined);
        assert.deepEqual(report.checks.map((c) => c.result), ["passed", "not run"]);
        assert.deepEqual(bindGateSpec(spec, { config: { appFeatures: [] }, env: {}, hiddenEnv: [] }).secrets, []);
        const withPlans = bindGateSpec(spec, { config: { appFeatures: ["plan-generation"] }, env: {}, hiddenEnv: [] });
        assert.deepEqual([withPlans.secrets, withPlans.allSecrets], [["SMOKE_USER_ID"], ["SMOKE_USER_ID"]], "needed through the var that refers to it");
        assert.equal((await runGate(server.url, withPlans.spec)).problem, "var user_id: secret SMOKE_USER_ID was not given to the gate");
    });

    it("refuses to start without a secret it needs, sending nothing", async () => {
        server = await serve(() => ({ status: 200 }));
        const report = await runGate(server.url, { vars: { password: { secret: "SMOKE_PASSWORD" } }, checks: [{ ...health, request: { path: "/health", headers: { "X-Password": "${password}" } } }] });
        assert.equal(report.passed, false);
        assert.equal(report.problem, "var password: secret SMOKE_PASSWORD was not given to the gate");
        assert.deepEqual(server.log, []);
        assert.match(formatGateReport(server.url, report), /the gate could not start: var password: secret SMOKE_PASSWORD/);
    });

    it("sends multipart form data: fields and a file, with variables filled in", async () => {
        let seen: Record<string, string> = {};
        server = await serve((req, body) => {
            if (req.url !== "/import") return { status: 200 };
            seen = { contentType: String(req.headers["content-type"]), body };
            return { status: 200, body: { run_id: "r-1" } };
        });
        const report = await runGate(
            server.url,
            {
                deadlineSeconds: 5,
                checks: [
                    health,
                    {
                        name: "import",
                        request: { method: "POST", path: "/import", multipart: { venue: "binance", note: "${release}", file: { filename: "t.csv", contentType: "text/csv", content: "a,b\n${release},2\n" } } },
                        expect: { status: 200 },
                        capture: { run_id: "$.run_id" },
                    },
                ],
            },
            { release: "r9" },
        );
        assert.equal(report.passed, true, formatGateReport(server.url, report));
        const form = await new Request("http://x/", { method: "POST", headers: { "content-type": seen.contentType }, body: seen.body }).formData();
        assert.equal(form.get("venue"), "binance");
        assert.equal(form.get("note"), "r9");
        const file = form.get("file") as File;
        assert.equal(file.name, "t.csv");
        assert.equal(file.type, "text/csv");
        assert.equal(await file.text(), "a,b\nr9,2\n");
    });

    it("reads nested objects and arrays: .key, [n], [-1], [*] with matchers, and includes", async () => {
        const body = { totals: { total_trades: 3 }, items: [{ id: "a", t: 1 }, { id: "b", t: 2 }], candles: [{ close: 1 }, { close: 2 }] };
        server = await serve(() => ({ status: 200, body }));
        const expecting = async (json: Record<string, unknown>) => {
            const report = await runGate(server!.url, { deadlineSeconds: 0.2, intervalMs: 20, checks: [{ ...health, expect: { status: 200, json } }] });
            return report.passed ? "ok" : report.checks[0].last?.failure;
        };
        assert.equal(
            await expecting({
                "$.totals.total_trades": { type: "number" },
                "$.items[0].id": "a",
                "$.items[-1].id": "b",
                "$.items": { length: 2 },
                "$.items[*].t": { type: "number" },
                "$.items[*].id": { includes: "b" },
                "$.candles[*].close": { present: true },
                '$["totals"]["total_trades"]': { oneOf: [3, 4] },
                "$.items[1].id": { matches: "^[a-z]$" },
                "$.nothing": { present: false },
            }),
            "ok",
        );
        assert.equal(await expecting({ "$.items[*].id": { includes: "c" } }), '$.items[*].id does not include "c"');
        assert.equal(await expecting({ "$.items[*].t": 1 }), "$.items[*].t (match 2) is 2, expected 1");
        assert.equal(await expecting({ "$.missing[*].x": { present: true } }), "$.missing[*].x matches nothing");
        assert.equal(await expecting({ "$.totals": { length: 1 } }), '$.totals is {"total_trades":3}, expected an array or a string');
    });

    it("takes a list of types, any of which matches (an array, or null where a Go API answers a nil slice)", async () => {
        server = await serve(() => ({ status: 200, body: { by_side: null, by_symbol: [], totals: {} } }));
        const expecting = async (json: Record<string, unknown>) => {
            const report = await runGate(server!.url, { deadlineSeconds: 0.2, intervalMs: 20, checks: [{ ...health, expect: { status: 200, json } }] });
            return report.passed ? "ok" : report.checks[0].last?.failure;
        };
        assert.equal(await expecting({ "$.by_side": { type: ["array", "null"] }, "$.by_symbol": { type: ["array", "null"] } }), "ok");
        assert.equal(await expecting({ "$.totals": { type: ["array", "null"] } }), "$.totals is {}, expected an array or null");
        assert.equal(await expecting({ "$.by_side": { type: "array" } }), "$.by_side is null, expected an array");
        assert.equal(await expecting({ "$.missing": { type: ["array", "null"] } }), "$.missing is absent, expected an array or null");
    });

    it("names a variable it could not fill in what a failed check may have left, never printing ${name}", async () => {
        server = await serve((req) => (req.url === "/health" ? { status: 200 } : { status: 500, body: { code: "PACK_SAVE_FAILED" } }));
        const report = await runGate(server.url, {
            deadlineSeconds: 5,
            checks: [health, { name: "generate pack", request: { method: "POST", path: "/packs", body: {} }, capture: { pack_id: "$.pack_id" }, creates: "summary pack ${pack_id}" }],
        });
        assert.deepEqual(report.leftovers, ["maybe summary pack <pack_id: not captured> (the check failed after sending)"]);
        assert.ok(!formatGateReport(server.url, report).includes("${"), "no template in the report");
    });

    it("lists the data a run created and did not remove; a later check's removes strikes it", async () => {
        server = await serve((req) => ({ status: 200, body: { id: req.url === "/a" ? "A1" : "B1" } }));
        const report = await runGate(
            server.url,
            {
                deadlineSeconds: 5,
                checks: [
                    health,
                    { name: "create a", request: { method: "POST", path: "/a", body: {} }, capture: { a: "$.id" }, creates: "thing ${a}" },
                    { name: "create b", request: { method: "POST", path: "/b", body: {} }, capture: { b: "$.id" }, creates: "other ${b}" },
                    { name: "delete a", request: { method: "DELETE", path: "/a/${a}" }, removes: "thing ${a}" },
                ],
            },
            {},
        );
        assert.deepEqual(report.leftovers, ["other B1"]);
        assert.match(formatGateReport(server.url, report), /data this gate run left in the app .*:\n    - other B1$/);
    });

    it("does not run a check that needs a value a skipped check would have captured", async () => {
        server = await serve(() => ({ status: 200, body: { id: "x" } }));
        const report = await runGate(server.url, {
            deadlineSeconds: 5,
            conditions: { never: { config: { environment: "nowhere" } } },
            stack: { config: { environment: "production" }, env: {} },
            checks: [
                health,
                { name: "create", when: "never", request: { method: "POST", path: "/x", body: {} }, capture: { id: "$.id" } },
                { name: "read", request: { path: "/x/${id}" } },
            ],
        });
        assert.equal(report.passed, true);
        assert.deepEqual(report.checks.map((c) => c.result), ["passed", "skipped", "not run"]);
        assert.equal(report.checks[2].reason, 'needs ${id}, which "create" would have captured (it was skipped)');
    });

    it("reads at most 1 MB of a body", async () => {
        server = await serve(() => ({ status: 200, body: "x".repeat(3_000_000) }));
        const report = await runGate(server.url, { deadlineSeconds: 1, intervalMs: 20, checks: [{ ...health, expect: { status: 200, json: { "$.a": 1 } } }] });
        assert.equal(report.checks[0].last?.failure, "body is not JSON (read up to 1000000 bytes)");
    });
});

describe("health gate: a page and its scripts (the frontend's gate)", () => {
    it("matches bodyContains against the page and its same-origin scripts, each string, and never fetches another origin's", async () => {
        const elsewhere = await serve(() => ({ status: 200, body: "self.x=\"https://api.example.com\"" }));
        const page = await serve((req) =>
            req.url === "/"
                ? { status: 200, body: `<html><script src="/_next/static/b7/_buildManifest.js"></script><script src="${elsewhere.url}/cdn.js"></script><script src='/chunk.js?v=1&amp;x=2' defer></script></html>` }
                : req.url === "/chunk.js?v=1&x=2"
                  ? { status: 200, body: 'const api="https://api.example.com",mode="prod";' }
                  : req.url === "/_next/static/b7/_buildManifest.js"
                    ? { status: 200, body: "self.__BUILD_MANIFEST={}" }
                    : { status: 404 },
        );
        try {
            const check = (bodyContains: string[]) => oneCheck({ name: "page", request: { path: "/", withScripts: true }, expect: { status: 200, bodyContains } });
            const passed = await runGate(page.url, check(['"https://api.example.com', '"prod"', "/_next/static/b7/"]));
            assert.equal(passed.passed, true, formatGateReport(page.url, passed));
            assert.deepEqual(elsewhere.log, [], "another origin's script is not fetched");
            const failed = await runGate(page.url, { ...check(['"demo"']), deadlineSeconds: 0.3 });
            assert.equal(failed.passed, false);
            assert.match(failed.checks[0].last?.failure ?? "", /the page and its scripts do not contain "\\"demo\\""/);
        } finally {
            await page.close();
            await elsewhere.close();
        }
    });

    it("fails a page whose script is missing, naming it", async () => {
        const page = await serve((req) => (req.url === "/" ? { status: 200, body: '<script src="/gone.js"></script>' } : { status: 404 }));
        try {
            const report = await runGate(page.url, oneCheck({ name: "page", request: { path: "/", withScripts: true }, expect: { bodyContains: "x" } }, { deadlineSeconds: 0.3 }));
            assert.equal(report.passed, false);
            assert.match(report.checks[0].last?.error ?? "", /script \/gone\.js answered 404/);
        } finally {
            await page.close();
        }
    });

    it("takes vars from the gated service's env and the stack's config; refuses a secret env; leaves derived env to the component", () => {
        const spec: GateSpec = { checks: [{ name: "page", request: { path: "/" } }], vars: { api: { env: "NEXT_PUBLIC_API_BASE_URL" }, mode: { env: "NEXT_PUBLIC_APP_MODE" }, build: { config: "frontendBuildId" } } };
        const bound = bindGateSpec(spec, {
            config: { frontendBuildId: "r7" },
            env: { NEXT_PUBLIC_APP_MODE: "prod" },
            hiddenEnv: ["NEXT_PUBLIC_API_BASE_URL"],
            derivedEnv: ["NEXT_PUBLIC_API_BASE_URL"],
        });
        assert.deepEqual(bound.problems, []);
        assert.deepEqual(bound.spec.stack, { config: { frontendBuildId: "r7" }, env: { NEXT_PUBLIC_API_BASE_URL: null, NEXT_PUBLIC_APP_MODE: "prod" } });
        const secret = bindGateSpec({ ...spec, vars: { key: { env: "JWT_SECRET" } } }, { config: {}, env: {}, hiddenEnv: ["JWT_SECRET"] });
        assert.deepEqual(secret.problems, ["a var reads env JWT_SECRET, whose value is a secret; use { secret: <config key> } instead"]);
    });

    it("refuses to run when a var's env has no value on the stack (a derived value the component did not fill in)", async () => {
        const report = await runGate("http://127.0.0.1:1", { checks: [{ name: "page", request: { path: "/" }, expect: { bodyContains: "${api}" } }], vars: { api: { env: "NEXT_PUBLIC_API_BASE_URL" } }, stack: { config: {}, env: { NEXT_PUBLIC_API_BASE_URL: null } } });
        assert.equal(report.passed, false);
        assert.equal(report.problem, "var api: env NEXT_PUBLIC_API_BASE_URL has no value on this stack");
    });
});

describe("gate spec files", () => {
    it("refuses unknown keys with one error naming the file and each key", () => {
        const file = specFile("checks:\n  - name: h\n    request: { path: /health, bdy: {} }\n    expext: { status: 200 }\ntimeout: 3\n");
        assert.throws(() => readGateSpec(file), (err: any) => {
            assert.equal(err.message, `${file}: not a valid gate spec:\n  checks[0].request.bdy: unknown key\n  checks[0].expext: unknown key\n  timeout: unknown key`);
            return true;
        });
    });

    it("refuses what the gate could not do safely or at all", () => {
        const file = specFile(
            [
                "conditions: { prod: { config: { environment: production } } }",
                "checks:",
                "  - { name: first, request: { method: POST, path: /x } }",
                "  - { name: twice, request: { method: POST, path: /y }, repeat: 2 }",
                "  - { name: cond, when: staging, request: { path: /z } }",
                "  - { name: cap, request: { path: /w }, capture: { all: '$.items[*].id' } }",
                "  - { name: rm, request: { method: DELETE, path: /v }, removes: 'thing 1' }",
                "  - { name: both, request: { method: POST, path: /u, body: {}, multipart: { a: b } } }",
                "  - { name: matcher, request: { path: /t }, expect: { json: { '$.a': { type: integer } } } }",
                "  - { name: types, request: { path: /s }, expect: { json: { '$.a': { type: [array, int] }, '$.b': { type: [] }, '$.c': { type: [array, 'null'] } } } }",
            ].join("\n") + "\n",
        );
        assert.deepEqual(specProblems(file), ["checks[5].request: has both body and multipart; a request has one body"]);
        // Without the shape error, the rules a schema cannot say, all at once.
        const file2 = specFile(fsRead(file).replace(/  - \{ name: both.*\n/, ""));
        assert.deepEqual(specProblems(file2), [
                "checks[0] (first): the first check must be idempotent and unconditional (e.g. GET /health): the gate waits for the app with it before anything is sent once",
                "checks[1] (twice): repeat 2 on a non-idempotent POST: it is sent exactly once (set idempotent: true if a repeat is harmless)",
                "checks[2] (cond).when: unknown condition staging (conditions: prod)",
                "checks[3] (cap).capture.all: $.items[*].id selects many values; a capture needs one",
                'checks[4] (rm).removes: no earlier check creates "thing 1" (it must repeat that check\'s creates exactly)',
                'checks[5] (matcher).expect.json["$.a"]: type is one of string, number, boolean, object, array, null, or a list of them (any matches) (matchers: present, type, length, minLength, oneOf, matches, includes)',
                'checks[6] (types).expect.json["$.a"]: type is one of string, number, boolean, object, array, null, or a list of them (any matches) (matchers: present, type, length, minLength, oneOf, matches, includes)',
                'checks[6] (types).expect.json["$.b"]: type is one of string, number, boolean, object, array, null, or a list of them (any matches) (matchers: present, type, length, minLength, oneOf, matches, includes)',
        ]);
    });

    it("refuses a var and a capture that would shadow each other, and a var used before the check that captures it", () => {
        const file = specFile(
            [
                "vars:",
                "  user_id: [{ secret: SMOKE_USER_ID }, { capture: resolve }]",
                "  other: [{ capture: nobody }]",
                "  third: [{ capture: resolve }]",
                "checks:",
                "  - { name: health, request: { path: '/health/${user_id}' } }",
                "  - { name: resolve, request: { method: POST, path: /auth }, capture: { user_id: $.user_id } }",
                "  - { name: token, request: { method: POST, path: /login }, capture: { other: $.token } }",
            ].join("\n") + "\n",
        );
        assert.deepEqual(specProblems(file), [
            'vars.other[0]: capture names "nobody", which is no check of this spec',
            'vars.third[0]: capture names "resolve", which does not capture third',
            'checks[2] (token).capture.other: other is a var, which the capture would silently replace: add { capture: "token" } to its alternatives, or capture under another name',
            "checks[0] (health).request: ${user_id} is not a built-in, a var, or captured by an earlier check",
        ]);
        const withWhen = specFile("vars:\n  u: [{ when: x, capture: c }]\nchecks:\n  - { name: c, request: { path: / }, capture: { u: $.u } }\n");
        assert.throws(() => readGateSpec(withWhen), /vars\.u\[0\]: a capture alternative applies where its check runs: put the condition on the check, not here/);
    });

    it("binds the features its checks need from the stack's appFeatures, and only those", () => {
        const file = specFile("checks:\n  - { name: health, request: { path: /health } }\n  - { name: ready, needs: readyz, request: { path: /readyz } }\n  - { name: plan, needs: [plan-generation], request: { path: /p } }\n");
        const spec = readGateSpec(file);
        assert.deepEqual(bindGateSpec(spec, { config: { appFeatures: ["plan-generation", "auth-resolve"] }, env: {}, hiddenEnv: [] }).spec.stack, { config: {}, env: {}, features: ["plan-generation"] });
        assert.deepEqual(bindGateSpec(spec, { config: { appFeatures: [] }, env: {}, hiddenEnv: [] }).spec.stack?.features, []);
        assert.deepEqual(bindGateSpec(spec, { config: {}, env: {}, hiddenEnv: [] }).problems, [
            "checks need plan-generation, readyz, and the stack's config has no appFeatures list saying what the deployed version supports",
        ]);
        const first = specFile("checks:\n  - { name: ready, needs: readyz, request: { path: /readyz } }\n  - { name: x, needs: 'Plan Generation', request: { path: /x } }\n");
        assert.deepEqual(specProblems(first), ["checks[1].needs: must be a feature name (lower-case letters, digits, -), e.g. plan-generation"]);
        fsWrite(first, fsRead(first).replace("'Plan Generation'", "plan-generation"));
        assert.throws(() => readGateSpec(first), /checks\[0\] \(ready\): the first check must be idempotent and unconditional/);
    });

    it("binds a spec to a stack: only the facts it reads, the secrets it needs there, and what the stack cannot answer", () => {
        const file = specFile(
            [
                "conditions:",
                "  prod: { config: { environment: production } }",
                "  enforced: { env: { AI_REQUIRE_ALLOWLIST: 'true' } }",
                "vars:",
                "  email: [{ when: prod, secret: SMOKE_EMAIL }, { value: 'local-${run}' }]",
                "checks:",
                "  - { name: health, request: { path: /health } }",
                "  - { name: ai, when: enforced, request: { path: /ai } }",
                "  - { name: login, request: { method: POST, path: /login, body: { email: '${email}' } } }",
            ].join("\n") + "\n",
        );
        const spec = readGateSpec(file);
        const prod = bindGateSpec(spec, { config: { environment: "production", target: "aws", app: "kifu" }, env: { AI_REQUIRE_ALLOWLIST: "true", OTHER: "x" }, hiddenEnv: [] });
        assert.deepEqual(prod.problems, []);
        assert.deepEqual(prod.spec.stack, { config: { environment: "production" }, env: { AI_REQUIRE_ALLOWLIST: "true" } });
        assert.deepEqual(prod.secrets, ["SMOKE_EMAIL"]);
        const dev = bindGateSpec(spec, { config: { environment: "development" }, env: {}, hiddenEnv: [] });
        assert.deepEqual([dev.secrets, dev.allSecrets, dev.spec.stack?.env], [[], ["SMOKE_EMAIL"], { AI_REQUIRE_ALLOWLIST: null }]);
        const hidden = bindGateSpec(spec, { config: {}, env: {}, hiddenEnv: ["AI_REQUIRE_ALLOWLIST"] });
        assert.deepEqual(hidden.problems, [
            "a condition reads config key environment, which is not a Gatehouse key",
            "a condition reads env AI_REQUIRE_ALLOWLIST, whose value is a secret or derived; a condition can read only plain env",
        ]);
    });
});

function fsRead(file: string): string {
    return require("fs").readFileSync(file, "utf8");
}

/** The problems readGateSpec names for a spec file, one a line (it must refuse the file). */
function specProblems(file: string): string[] {
    try {
        readGateSpec(file);
    } catch (err: any) {
        return err.message.split("\n").slice(1).map((l: string) => l.trim());
    }
    throw new Error(`${file} was accepted`);
}

function fsWrite(file: string, text: string): void {
    require("fs").writeFileSync(file, text);
}
