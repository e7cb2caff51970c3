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

    it("refuses to start, as the real backend does, without KIFU_ENC_KEY as standard base64 of exactly 32 bytes", async () => {
        const raw = Buffer.alloc(32, 0xfb);
        for (const [key, says] of [
            [raw.toString("base64url"), "illegal base64 data"],
            [Buffer.alloc(16).toString("base64"), "encryption key must be 32 bytes after base64 decoding"],
        ]) {
            await assert.rejects(startStandIn("kifu", { KIFU_ENC_KEY: key }), new RegExp(`exited \\(1\\):\nKIFU_ENC_KEY environment variable is required: ${says}`));
        }
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
    // The local stack's view (Pulumi.routine-local.yaml): the stand-in answers as develop does, and has /readyz.
    const LOCAL_ROUTINE = { target: "local", environment: "development", appFeatures: ["readyz", "plan-generation", "auth-resolve"] };
    const post = async (app: StandIn, path: string, body: unknown) => {
        const r = await fetch(`${app.url}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
        const text = await r.text();
        return { status: r.status, type: r.headers.get("content-type"), body: /json/.test(r.headers.get("content-type") ?? "") ? (JSON.parse(text) as any) : text };
    };

    it("passes on the local stack (with the machine's Redis), resolving a smoke user of its own; the user and plan it cannot delete are listed", async () => {
        const app = await startStandIn("routine", { REDIS_URL: "redis://127.0.0.1:6379/0" });
        try {
            const { report, text } = await gate(app.url, spec("routine", LOCAL_ROUTINE, {}));
            assert.equal(report.passed, true, text);
            assert.ok(report.checks.every((c) => c.result === "passed"), text);
            const [user] = await sql(app.databaseUrl, "SELECT id, kakao_user_id FROM users");
            assert.match(user.kakao_user_id, /^gatehouse-smoke-\w+$/);
            const [plan] = await sql(app.databaseUrl, "SELECT user_id, to_char(target_date, 'YYYY-MM-DD') AS date, source, status FROM workout_plans");
            assert.deepEqual([plan.user_id, plan.source, plan.status], [user.id, "llm", "ACTIVE"], "one plan, of the resolved user, its source normalised");
            assert.deepEqual(report.leftovers, [`user ${user.kakao_user_id}`, `workout plan of ${user.id} for ${plan.date}`]);
        } finally {
            await app.stop();
        }
    });

    it("on the production stack with main deployed (appFeatures []) runs /healthz only, says why each other check did not run, and needs no smoke user", async () => {
        const app = await startStandIn("routine", {});
        try {
            const { report, text } = await gate(app.url, spec("routine", { target: "aws", environment: "production", appFeatures: [] }, {}));
            assert.equal(report.passed, true, text);
            assert.match(text, /^health gate passed against .* — 7 checks: 1 run, 1 passed, 1 skipped, 5 not run:$/m);
            assert.deepEqual(report.checks.map((c) => [c.name, c.result, c.reason ?? ""]), [
                ["healthz", "passed", ""],
                ["readyz", "not run", "the deployed version lacks readyz (appFeatures)"],
                ["resolve the smoke user", "skipped", "when !production does not hold for this stack"],
                ...["generate plan (source normalised to llm)", "same user and date conflicts", "empty plan_source is rejected", "empty source is rejected"].map((n) => [n, "not run", "the deployed version lacks plan-generation (appFeatures)"]),
            ]);
            assert.deepEqual(await sql(app.databaseUrl, "SELECT count(*)::int AS n FROM workout_plans"), [{ n: 0 }], "no plan request was sent");
        } finally {
            await app.stop();
        }
    });

    it("in production with plan generation deployed, plans for the smoke user a person made, given as the stack's secret, and never shows its id", async () => {
        const app = await startStandIn("routine", {});
        try {
            // What the spec's comment tells the operator to run once.
            const [{ id }] = await sql(app.databaseUrl, "INSERT INTO users (id, kakao_user_id, name) VALUES (gen_random_uuid(), 'gatehouse-smoke', 'Gatehouse smoke') RETURNING id");
            const prod = spec("routine", { target: "aws", environment: "production", appFeatures: ["plan-generation", "auth-resolve"] }, {});
            const { report, text } = await gate(app.url, prod, { secrets: { ROUTINE_SMOKE_USER_ID: id } });
            assert.equal(report.passed, true, text);
            assert.equal(results(report)["resolve the smoke user"], "skipped");
            assert.deepEqual(await sql(app.databaseUrl, "SELECT count(*)::int AS n FROM users"), [{ n: 1 }], "no user was made");
            assert.deepEqual(await sql(app.databaseUrl, "SELECT user_id FROM workout_plans"), [{ user_id: id }]);
            assert.ok(!text.includes(id), text);
        } finally {
            await app.stop();
        }
    });

    it("answers plan generation as the app's develop branch does: 201, 409, 400 with FastAPI's detail, 422 for a user id that is no UUID, 500 for a UUID with no user", async () => {
        const app = await startStandIn("routine", {});
        try {
            const { body: user } = await post(app, "/auth/resolve", { kakao_user_id: "contract" });
            const plan = (body: Record<string, unknown>) => post(app, "/plans/generate", { user_id: user.user_id, ...body });
            const created = await plan({ target_date: "2026-12-01", plan_source: " Rule " });
            assert.equal(created.status, 201);
            assert.deepEqual(Object.keys(created.body).sort(), ["id", "source", "status", "target_date", "user_id"]);
            assert.deepEqual([created.body.user_id, created.body.target_date, created.body.source, created.body.status], [user.user_id, "2026-12-01", "rule", "ACTIVE"]);
            assert.match(created.body.id, /^[0-9a-f-]{36}$/);
            assert.deepEqual(await plan({ target_date: "2026-12-01", source: "llm" }), { status: 409, type: "application/json", body: { detail: "An ACTIVE exercise plan already exists for this user and target_date." } });
            for (const body of [{ plan_source: "" }, { source: "" }, { source: "maybe" }, { plan_source: "rule_based" }]) {
                assert.deepEqual(await plan({ target_date: "2026-12-01", ...body }), { status: 400, type: "application/json", body: { detail: "source must be one of [llm, rule]" } }, JSON.stringify(body));
            }
            // plan_source wins over source; neither means rule.
            assert.equal((await plan({ target_date: "2026-12-02", plan_source: "llm", source: "" })).body.source, "llm");
            assert.equal((await plan({ target_date: "2026-12-03" })).body.source, "rule");
            const notUuid = await post(app, "/plans/generate", { user_id: "gatehouse-smoke-r1", target_date: "2026-12-04", source: "rule" });
            assert.equal(notUuid.status, 422);
            assert.deepEqual([notUuid.body.detail[0].type, notUuid.body.detail[0].loc, notUuid.body.detail[0].input], ["uuid_parsing", ["body", "user_id"], "gatehouse-smoke-r1"]);
            assert.deepEqual(await post(app, "/plans/generate", { user_id: "00000000-0000-4000-8000-000000000000", target_date: "2026-12-04", source: "rule" }), { status: 500, type: "text/plain; charset=utf-8", body: "Internal Server Error" });
            assert.equal((await post(app, "/plans/generate", "{not json")).status, 422);
            assert.deepEqual((await post(app, "/plans/generate", { user_id: user.user_id })).body.detail[0].loc, ["body", "target_date"]);
            assert.deepEqual(await post(app, "/no/such/path", {}), { status: 404, type: "application/json", body: { detail: "Not Found" } });
        } finally {
            await app.stop();
        }
    });

    it("resolves a user per Kakao id as develop's /auth/resolve does: the same id the same user, a blank one 400", async () => {
        const app = await startStandIn("routine", {});
        try {
            const first = await post(app, "/auth/resolve", { kakao_user_id: " k-1 ", name: "Jane" });
            assert.equal(first.status, 200);
            assert.deepEqual([first.body.kakao_user_id, first.body.name], ["k-1", "Jane"]);
            assert.match(first.body.user_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
            assert.deepEqual((await post(app, "/auth/resolve", { kakao_user_id: "k-1", name: "Other" })).body, first.body, "idempotent per kakao_user_id");
            assert.equal((await post(app, "/auth/resolve", { kakao_user_id: "k-2" })).body.name, "Kakao User");
            assert.deepEqual(await post(app, "/auth/resolve", { kakao_user_id: "  " }), { status: 400, type: "application/json", body: { detail: "kakao_user_id is required" } });
            assert.equal((await post(app, "/auth/resolve", {})).status, 422);
            assert.deepEqual(await sql(app.databaseUrl, "SELECT kakao_user_id FROM users ORDER BY kakao_user_id"), [{ kakao_user_id: "k-1" }, { kakao_user_id: "k-2" }]);
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
            // As in the app: (provider, event_id) unique through an index, (provider, idempotency_key) through a constraint.
            assert.deepEqual(await sql(app.databaseUrl, "SELECT indexname FROM pg_indexes WHERE tablename = 'webhook_events' AND indexdef LIKE 'CREATE UNIQUE INDEX % (provider, event_id)'"), [{ indexname: "ix_webhook_events_provider_event_id" }]);
            assert.deepEqual(await sql(app.databaseUrl, "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'webhook_events'::regclass AND contype = 'u'"), [{ def: "UNIQUE (provider, idempotency_key)" }]);
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
