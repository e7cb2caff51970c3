import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as net from "net";
import * as path from "path";
import { GateRunOptions, runGate } from "../components/release/gate";
import { bindGateSpec } from "../components/release/gateBinding";
import { GateReport, formatGateReport } from "../components/release/gateReport";
import type { GateSpec } from "../components/release/gateSchema";
import { readGateSpec } from "../components/release/gateSpec";
import { sql } from "./helpers/postgres";
import { StandIn, startStandIn } from "./helpers/standIns";

// Each shipped spec against its stand-in, as processes on free ports with a
// fresh database: the contract the stand-ins share with the real apps. The
// same spec runs against the real app in production (bound to the prod stack).

const CHECKS = path.join(__dirname, "..", "checks");
const spec = (app: string, config: Record<string, unknown>, env: Record<string, string>): GateSpec => {
    const bound = bindGateSpec(readGateSpec(path.join(CHECKS, `${app}.smoke.yaml`)), { config, env, hiddenEnv: [] });
    assert.deepEqual(bound.problems, []);
    return bound.spec;
};
const results = (report: GateReport) => Object.fromEntries(report.checks.map((c) => [c.name, c.result]));
const gate = async (url: string, s: GateSpec, options: GateRunOptions = {}) => {
    const report = await runGate(url, s, { release: "contract", online: true, ...options });
    return { report, text: formatGateReport(url, report) };
};

// The local stack's view of the first app (Pulumi.local.yaml).
const LOCAL = { config: { environment: "development", target: "local" }, env: { APP_ENV: "development", AI_REQUIRE_ALLOWLIST: "true" } };

describe("contract: checks/kifu.smoke.yaml against the kifu stand-in", function () {
    this.timeout(120_000);
    let app: StandIn;
    before(async () => {
        app = await startStandIn("kifu", LOCAL.env);
    });
    after(async () => app?.stop());

    it("passes every check that applies on the local stack, registering a user of its own", async () => {
        const { report, text } = await gate(app.url, spec("kifu", LOCAL.config, LOCAL.env));
        assert.equal(report.passed, true, text);
        const skipped = report.checks.filter((c) => c.result !== "passed").map((c) => `${c.name}: ${c.result}`);
        assert.deepEqual(skipped, ["ai one-shot answers: skipped"], text);
        assert.match(report.checks.find((c) => c.name === "ai one-shot answers")!.reason!, /when !allowlistEnforced does not hold/);
        // The bubble was deleted by a later check; what the API cannot delete is listed.
        assert.equal(report.leftovers.length, 3, text);
        assert.match(report.leftovers[0], /^user gatehouse-smoke-.*@gatehouse\.invalid$/);
        assert.match(report.leftovers[1], /^import run [0-9a-f-]{36} and its trades$/);
        assert.match(report.leftovers[2], /^summary pack [0-9a-f-]{36}$/);
        assert.deepEqual(await sql(app.databaseUrl, "SELECT count(*)::int AS n FROM bubbles"), [{ n: 0 }]);
        const [user] = await sql(app.databaseUrl, "SELECT smoke_test_release FROM users");
        assert.equal(user.smoke_test_release, "contract", "the stand-in records the smoke header");
        assert.deepEqual(await sql(app.databaseUrl, "SELECT count(*)::int AS n FROM trades"), [{ n: 2 }], "the multipart CSV was imported");
    });

    it("answers errors as {code, message} and refuses private paths without a token", async () => {
        const answer = async (p: string, init: RequestInit = {}) => {
            const r = await fetch(app.url + p, init);
            return { status: r.status, body: await r.json() };
        };
        assert.deepEqual(await answer("/api/v1/bubbles"), { status: 401, body: { code: "UNAUTHORIZED", message: "invalid or missing JWT" } });
        assert.deepEqual(await answer("/api/v1/no/such/path"), { status: 401, body: { code: "UNAUTHORIZED", message: "invalid or missing JWT" } });
        const health = await answer("/health");
        assert.deepEqual(health, { status: 200, body: { status: "healthy", release: "dev" } });
        const bad = await answer("/api/v1/auth/register", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email: "a@b.c", password: "x" }) });
        assert.deepEqual(bad, { status: 400, body: { code: "INVALID_REQUEST", message: "email, password, and name are required" } });
    });

    it("answers by_exchange, by_side and by_symbol as null for a user with no trades, as the app's nil Go slices are, and as arrays once it has some", async () => {
        const call = async (p: string, init: RequestInit = {}) => (await fetch(app.url + p, init)).json() as Promise<any>;
        const json = (body: unknown): RequestInit => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        const email = `summary-${Date.now()}@gatehouse.invalid`;
        await call("/api/v1/auth/register", json({ email, password: "pw-summary-1", name: "summary" }));
        const { access_token } = await call("/api/v1/auth/login", json({ email, password: "pw-summary-1" }));
        const auth = { Authorization: `Bearer ${access_token}` };
        const empty = await call("/api/v1/trades/summary", { headers: auth });
        assert.deepEqual([empty.by_exchange, empty.by_side, empty.by_symbol, empty.totals.total_trades], [null, null, null, 0]);
        const form = new FormData();
        form.append("venue", "binance");
        form.append("asset_class", "crypto");
        form.append("file", new Blob(["executed_at,symbol,side,qty,price\n2026-12-01T00:00:00Z,BTCUSDT,buy,0.001,90000\n"], { type: "text/csv" }), "t.csv");
        await call("/api/v1/imports/trades", { method: "POST", headers: auth, body: form });
        const some = await call("/api/v1/trades/summary", { headers: auth });
        assert.deepEqual([some.by_side, some.by_symbol.length], [[{ side: "buy", total_trades: 1 }], 1]);
    });

    it("in production never registers: it logs in with the smoke account from the stack's secrets", async () => {
        // The account a person made once; the gate only uses it.
        const email = "smoke-account@gatehouse.invalid";
        const password = "s3cret-smoke-password";
        await fetch(`${app.url}/api/v1/auth/register`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password, name: "smoke" }) });
        const users = async () => (await sql(app.databaseUrl, "SELECT count(*)::int AS n FROM users"))[0].n;
        const before = await users();
        const prod = spec("kifu", { environment: "production", target: "aws" }, { APP_ENV: "development", AI_REQUIRE_ALLOWLIST: "true" });
        const { report, text } = await gate(app.url, prod, { secrets: { KIFU_SMOKE_EMAIL: email, KIFU_SMOKE_PASSWORD: password } });
        assert.equal(report.passed, true, text);
        assert.equal(await users(), before, "no user was registered");
        assert.deepEqual(report.checks.filter((c) => c.result === "skipped").map((c) => c.name), [
            "register a smoke user (not in production)",
            "registering the same email again is refused",
            "ai one-shot answers",
        ]);
        assert.ok(!text.includes(email) && !text.includes(password), text);
    });

    it("masks the smoke credentials in a failing production report", async () => {
        const prod = spec("kifu", { environment: "production", target: "aws" }, LOCAL.env);
        const email = "nobody-registered-this@gatehouse.invalid";
        const password = "wrong-password-123";
        const { report, text } = await gate(app.url, prod, { secrets: { KIFU_SMOKE_EMAIL: email, KIFU_SMOKE_PASSWORD: password } });
        assert.equal(report.passed, false);
        assert.match(text, /FAIL login: failed after 1 attempt\(s\) — status 401, \d+ ms, status 401, expected 200, body: \{"code":"UNAUTHORIZED","message":"invalid credentials"\}; not retried: POST is not idempotent/);
        assert.ok(!text.includes(email) && !text.includes(password), text);
    });

    it("follows the stack's allowlist policy: with the allowlist off the one-shot call goes through", async () => {
        const open = await startStandIn("kifu", { APP_ENV: "development", AI_REQUIRE_ALLOWLIST: "false" });
        try {
            const { report, text } = await gate(open.url, spec("kifu", LOCAL.config, { APP_ENV: "development", AI_REQUIRE_ALLOWLIST: "false" }));
            assert.equal(report.passed, true, text);
            assert.equal(results(report)["ai one-shot answers"], "passed");
            assert.equal(results(report)["ai one-shot refused by the allowlist"], "skipped");
            assert.ok(report.leftovers.includes("one AI one-shot call (counted against the AI quota)"));
        } finally {
            await open.stop();
        }
    });

    it("fails when the app does not enforce the allowlist the stack says it enforces", async () => {
        // The stack says enforced (unset in production); the app runs with it off.
        const lax = await startStandIn("kifu", { APP_ENV: "production", AI_REQUIRE_ALLOWLIST: "false" });
        try {
            const { report, text } = await gate(lax.url, spec("kifu", LOCAL.config, { APP_ENV: "production" }));
            assert.equal(report.passed, false);
            assert.equal(results(report)["ai one-shot refused by the allowlist"], "failed", text);
            assert.match(text, /status 200, expected 403/);
        } finally {
            await lax.stop();
        }
    });

    it("reports klines as not run where the machine has no route to the internet, and still passes", async () => {
        const { report, text } = await gate(app.url, spec("kifu", LOCAL.config, LOCAL.env), { online: false });
        assert.equal(report.passed, true, text);
        assert.equal(results(report)["market klines"], "not run");
        assert.match(text, /health gate passed against .* — 18 checks: 16 run, 16 passed, 1 skipped, 1 not run:/);
        assert.match(text, /skip market klines: not run — external: this machine has no route to the internet/);
    });
});

describe("contract: checks/kifu.frontend.yaml against the frontend stand-in, served as the real Next.js build serves it", function () {
    this.timeout(120_000);
    const API = "http://127.0.0.1:8181";
    /** The spec bound as the stack binds it: the frontend's env, the derived API URL filled in, the build id. */
    const frontendSpec = (buildId: string, env: Record<string, string> = { NEXT_PUBLIC_APP_MODE: "prod" }): GateSpec => {
        const bound = bindGateSpec(readGateSpec(path.join(CHECKS, "kifu.frontend.yaml")), { config: { frontendBuildId: buildId }, env, hiddenEnv: ["NEXT_PUBLIC_API_BASE_URL"], derivedEnv: ["NEXT_PUBLIC_API_BASE_URL"] });
        assert.deepEqual(bound.problems, []);
        return { ...bound.spec, deadlineSeconds: 3, stack: { ...bound.spec.stack!, env: { ...bound.spec.stack!.env, NEXT_PUBLIC_API_BASE_URL: API } } };
    };
    const frontend = (env: Record<string, string>) => startStandIn("frontend", { NEXT_PUBLIC_API_BASE_URL: API, NEXT_PUBLIC_APP_MODE: "prod", GATEHOUSE_RELEASE: "r1", ...env });
    const failure = (report: GateReport) => report.checks.filter((c) => c.result === "failed").map((c) => `${c.name}: ${c.last?.failure ?? c.last?.error}`);

    it("passes the release's build, with the stack's API and mode", async () => {
        const app = await frontend({});
        try {
            const { report, text } = await gate(app.url, frontendSpec("r1"));
            assert.equal(report.passed, true, text);
            assert.ok(report.checks.every((c) => c.result === "passed"), text);
        } finally {
            await app.stop();
        }
    });

    it("fails a stale build, another API and a demo build, each at its own check", async () => {
        const stale = await frontend({ DEMO_BUILD_ID: "r0" });
        const otherApi = await frontend({ NEXT_PUBLIC_API_BASE_URL: "https://api.elsewhere.invalid" });
        const demo = await frontend({ NEXT_PUBLIC_APP_MODE: "demo" });
        try {
            assert.deepEqual(failure((await gate(stale.url, frontendSpec("r1"))).report), ['the page is this release\'s build: body does not contain "r1"']);
            assert.deepEqual(failure((await gate(otherApi.url, frontendSpec("r1"))).report), [`the build calls the stack's API: the page and its scripts do not contain ${JSON.stringify(`"${API}".trim()`)}`]);
            assert.deepEqual(failure((await gate(demo.url, frontendSpec("r1"))).report), ['the build runs in the stack\'s mode: the page and its scripts do not contain "\\"prod\\".trim()"']);
        } finally {
            await Promise.all([stale.stop(), otherApi.stop(), demo.stop()]);
        }
    });

    it("/ carries the build id and loads neither the API URL nor the mode; /login the API URL only; /chart both, with both mode literals", async () => {
        const app = await frontend({ NEXT_PUBLIC_APP_MODE: "demo", DEMO_BUILD_ID: "UnyiB1lx_xeGtanKMV8-7" });
        try {
            const withScripts = async (p: string) => {
                const html = await (await fetch(app.url + p)).text();
                const sources = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]);
                return { html, scripts: (await Promise.all(sources.map(async (s) => (await fetch(app.url + s)).text()))).join("\n") };
            };
            const root = await withScripts("/");
            assert.ok(root.html.includes('\\"b\\":\\"UnyiB1lx_xeGtanKMV8-7\\"'), "the build id in the RSC payload");
            assert.ok(!(root.html + root.scripts).includes(API) && !(root.html + root.scripts).includes(".trim()"), "neither value on /");
            const login = await withScripts("/login");
            assert.ok(login.scripts.includes(`"${API}".trim()`) && !login.scripts.includes('"demo".trim()'));
            const chart = await withScripts("/chart");
            assert.ok(chart.scripts.includes(`"${API}".trim()`) && chart.scripts.includes('"demo".trim()'));
            assert.ok(chart.scripts.includes('"prod"'), "the other mode's literal is there too: only the trimmed one tells builds apart");
        } finally {
            await app.stop();
        }
    });
});

describe("contract: checks/routine.smoke.yaml against the routine stand-in", function () {
    this.timeout(120_000);
    const LOCAL_ROUTINE = { target: "local", environment: "development", appFeatures: ["readyz", "plan-generation"] };

    it("passes the checklist's target on the local stack (with the machine's Redis); plans it cannot delete are listed", async () => {
        const app = await startStandIn("routine", { REDIS_URL: "redis://127.0.0.1:6379/0" });
        try {
            const { report, text } = await gate(app.url, spec("routine", LOCAL_ROUTINE, {}));
            assert.equal(report.passed, true, text);
            assert.ok(report.checks.every((c) => c.result === "passed"), text);
            assert.deepEqual(report.leftovers.map((l) => l.replace(/gatehouse-smoke-\w+/, "<user>")), ["workout plan of <user> for 2026-12-01", "workout plan of <user> for 2026-12-04"]);
            assert.deepEqual(await sql(app.databaseUrl, "SELECT source FROM workout_plans ORDER BY target_date"), [{ source: "rule" }, { source: "llm" }]);
        } finally {
            await app.stop();
        }
    });

    it("on an AWS stack runs only what the deployed version supports and says which checks did not run", async () => {
        const app = await startStandIn("routine", {});
        try {
            const { report, text } = await gate(app.url, spec("routine", { target: "aws", environment: "production", appFeatures: [] }, {}));
            assert.equal(report.passed, true, text);
            assert.equal(results(report).healthz, "passed");
            assert.match(text, /health gate passed against .* — 7 checks: 1 run, 1 passed, 6 not run:/);
            assert.match(text, /skip readyz: not run — the deployed version lacks readyz \(appFeatures\)/);
            assert.deepEqual(await sql(app.databaseUrl, "SELECT count(*)::int AS n FROM workout_plans"), [{ n: 0 }], "no plan request was sent");
        } finally {
            await app.stop();
        }
    });

    it("accepts the SQLAlchemy URL form the real app needs (postgresql+psycopg://)", async () => {
        const plain = await startStandIn("routine", {});
        const app = await startStandIn("routine", {}, { databaseUrl: plain.databaseUrl.replace(/^postgres(ql)?:/, "postgresql+psycopg:") });
        try {
            const ready = await fetch(`${app.url}/readyz`);
            assert.deepEqual([ready.status, await ready.json()], [200, { status: "ready", checks: { database: "ok", redis: "not configured" } }]);
        } finally {
            await app.stop();
            await plain.stop();
        }
    });

    it("/readyz really checks PostgreSQL and Redis: 503 naming the one that fails, 200 once both answer", async () => {
        // A Redis that answers PING with +PONG, and a port where nothing listens.
        const redis = net.createServer((socket) => socket.on("data", (d) => d.toString().includes("PING") && socket.write("+PONG\r\n")));
        await new Promise<void>((r) => redis.listen(0, "127.0.0.1", r));
        const closed = net.createServer();
        await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
        const closedPort = (closed.address() as net.AddressInfo).port;
        await new Promise<void>((r) => closed.close(() => r()));
        const good = await startStandIn("routine", { REDIS_URL: `redis://127.0.0.1:${(redis.address() as net.AddressInfo).port}/0` });
        const noRedis = await startStandIn("routine", { REDIS_URL: `redis://127.0.0.1:${closedPort}/0` });
        const noDatabase = await startStandIn("routine", {}, { databaseUrl: good.databaseUrl.replace(/\/[^/]+$/, "/gh_no_such_database") });
        try {
            const ready = async (a: StandIn) => {
                const r = await fetch(`${a.url}/readyz`);
                return { status: r.status, body: (await r.json()) as any };
            };
            assert.deepEqual(await ready(good), { status: 200, body: { status: "ready", checks: { database: "ok", redis: "ok" } } });
            const r1 = await ready(noRedis);
            assert.equal(r1.status, 503);
            assert.match(r1.body.checks.redis, /^error: .*ECONNREFUSED/);
            assert.equal(r1.body.checks.database, "ok");
            const r2 = await ready(noDatabase);
            assert.equal(r2.status, 503);
            assert.match(r2.body.checks.database, /^error: database "gh_no_such_database" does not exist/);
            assert.equal((await fetch(`${noDatabase.url}/healthz`)).status, 200, "liveness needs no dependency");
            // And the gate, on the local stack, fails at readyz.
            const { report } = await gate(noRedis.url, { ...spec("routine", LOCAL_ROUTINE, {}), deadlineSeconds: 1 });
            assert.equal(results(report).readyz, "failed");
        } finally {
            await noDatabase.stop();
            await noRedis.stop();
            await good.stop();
            redis.close();
        }
    });

    it("answers plan generation as the checklist says: 201, 409, 400 for empty sources, 422 for a body it cannot read", async () => {
        const app = await startStandIn("routine", {});
        try {
            const post = async (body: unknown) => {
                const r = await fetch(`${app.url}/plans/generate`, { method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
                return { status: r.status, body: (await r.json()) as any };
            };
            const created = await post({ user_id: "u1", target_date: "2026-12-01", plan_source: "Rule_Based" });
            assert.equal(created.status, 201);
            assert.equal(created.body.source, "rule");
            assert.deepEqual((await post({ user_id: "u1", target_date: "2026-12-01", source: "llm" })).body.code, "conflict");
            assert.deepEqual(await post({ user_id: "u1", target_date: "2026-12-02", plan_source: "" }), { status: 400, body: { code: "validation", message: "plan_source must not be empty" } });
            assert.equal((await post({ user_id: "u1", target_date: "2026-12-02", source: "maybe" })).status, 400);
            assert.equal((await post({ target_date: "2026-12-02", source: "rule" })).status, 422);
            assert.equal((await post("{not json")).status, 422);
        } finally {
            await app.stop();
        }
    });

    it("refuses an empty source beside a valid plan_source, and two sources that disagree", async () => {
        const app = await startStandIn("routine", {});
        try {
            const post = async (body: unknown) => {
                const r = await fetch(`${app.url}/plans/generate`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
                return { status: r.status, body: (await r.json()) as any };
            };
            assert.deepEqual(await post({ user_id: "u1", target_date: "2026-12-01", plan_source: "rule", source: "" }), { status: 400, body: { code: "validation", message: "source must not be empty" } });
            assert.deepEqual(await post({ user_id: "u1", target_date: "2026-12-01", plan_source: "rule", source: "llm" }), { status: 400, body: { code: "validation", message: "plan_source (rule) and source (llm) disagree" } });
            assert.equal((await post({ user_id: "u1", target_date: "2026-12-01", plan_source: "rule", source: "fallback" })).body.source, "rule");
        } finally {
            await app.stop();
        }
    });

    it("stores a webhook event once per (provider, event_id) and per (provider, idempotency_key); a repeat answers 200 duplicate", async () => {
        const app = await startStandIn("routine", {});
        try {
            const deliver = async (body: unknown, headers: Record<string, string> = {}, provider = "kakao") => {
                const r = await fetch(`${app.url}/webhooks/${provider}`, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) });
                return { status: r.status, body: (await r.json()) as any };
            };
            const first = await deliver({ event_id: "e1", idempotency_key: "k1", schema_version: 2 });
            assert.deepEqual([first.status, first.body.duplicate], [200, false]);
            const again = await deliver({ event_id: "e1", idempotency_key: "k1", schema_version: 2 });
            assert.deepEqual(again, { status: 200, body: { received: true, duplicate: true, id: first.body.id, retry_count: 1 } });
            assert.equal((await deliver({ event_id: "e2", idempotency_key: "k1" })).body.duplicate, true, "same key, new event id");
            assert.equal((await deliver({ event_id: "e1", idempotency_key: "k9" })).body.duplicate, true, "same event id, new key");
            assert.equal((await deliver({ event_id: "e3" }, { "Idempotency-Key": "k3" })).body.duplicate, false);
            assert.equal((await deliver({ event_id: "e3", idempotency_key: "k1" }, {}, "other")).body.duplicate, false, "uniqueness is per provider");
            assert.equal((await deliver({ idempotency_key: "k4" })).status, 422);
            const rows = await sql(app.databaseUrl, "SELECT provider, event_id, idempotency_key, schema_version, signature_state, retry_count FROM webhook_events ORDER BY id");
            assert.deepEqual(rows, [
                { provider: "kakao", event_id: "e1", idempotency_key: "k1", schema_version: 2, signature_state: "unverified", retry_count: 3 },
                { provider: "kakao", event_id: "e3", idempotency_key: "k3", schema_version: 1, signature_state: "unverified", retry_count: 0 },
                { provider: "other", event_id: "e3", idempotency_key: "k1", schema_version: 1, signature_state: "unverified", retry_count: 0 },
            ]);
            assert.match(app.output(), /webhook kakao event e1 \(key k1\): repeated delivery of \d+, not stored again/);
        } finally {
            await app.stop();
        }
    });

    it("with WEBHOOK_SECRET stores only signed events, as verified", async () => {
        const app = await startStandIn("routine", { WEBHOOK_SECRET: "hook-secret" });
        try {
            const body = JSON.stringify({ event_id: "e1" });
            const send = (signature: string) => fetch(`${app.url}/webhooks/kakao`, { method: "POST", headers: { "X-Webhook-Signature": signature }, body });
            assert.equal((await send("00".repeat(32))).status, 401);
            assert.equal((await send(crypto.createHmac("sha256", "hook-secret").update(body).digest("hex"))).status, 200);
            assert.deepEqual(await sql(app.databaseUrl, "SELECT event_id, signature_state FROM webhook_events"), [{ event_id: "e1", signature_state: "verified" }]);
        } finally {
            await app.stop();
        }
    });
});
