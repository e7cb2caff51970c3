// The demo app a newcomer's first local release deploys: a real HTTP server on
// the migrated schema that answers the first checklist's smoke calls. It is
// also the integration tests' fixture. Not the real kifu backend: just enough
// behaviour for every smoke check to mean something (auth, ownership, the AI
// allowlist, runs -> packs).
import * as crypto from "crypto";
import * as http from "http";
import { Pool } from "pg";

const env = (name: string, fallback?: string): string => {
    const value = process.env[name] ?? fallback;
    if (value === undefined) throw new Error(`demo app: ${name} is not set`);
    return value;
};

const port = Number(env("PORT", "8181"));
const jwtSecret = env("JWT_SECRET");
const requireAllowlist = env("AI_REQUIRE_ALLOWLIST", "true") === "true";
const release = env("GATEHOUSE_RELEASE", "dev");
const pool = new Pool({ connectionString: env("DATABASE_URL"), max: 5 });

type Json = Record<string, unknown> | unknown[];
class HttpError extends Error {
    constructor(readonly status: number, readonly code: string) {
        super(code);
    }
}

// Tokens are HMAC-signed user ids: enough for a demo, no dependency.
function sign(userId: string): string {
    const payload = Buffer.from(JSON.stringify({ sub: userId, iat: Date.now() })).toString("base64url");
    return `${payload}.${crypto.createHmac("sha256", jwtSecret).update(payload).digest("base64url")}`;
}

function authenticate(req: http.IncomingMessage): string {
    const [, token] = /^Bearer (.+)$/.exec(req.headers.authorization ?? "") ?? [];
    const [payload, sig] = (token ?? "").split(".");
    if (!payload || !sig) throw new HttpError(401, "missing_token");
    const expected = crypto.createHmac("sha256", jwtSecret).update(payload).digest("base64url");
    if (sig.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) {
        throw new HttpError(401, "invalid_token");
    }
    return JSON.parse(Buffer.from(payload, "base64url").toString()).sub;
}

function hashPassword(password: string, salt = crypto.randomBytes(16).toString("hex")): string {
    return `${salt}:${crypto.scryptSync(password, salt, 32).toString("hex")}`;
}

function klines(symbol: string, limit: number): Json {
    // Deterministic synthetic candles: the chart path works without an exchange.
    const day = 86_400_000;
    const start = Date.UTC(2026, 0, 1);
    return Array.from({ length: limit }, (_, i) => {
        const open = 90_000 + ((symbol.length * 997 + i * 313) % 5000);
        return { open_time: new Date(start + i * day).toISOString(), open, high: open + 800, low: open - 700, close: open + 120, volume: 10 + i };
    });
}

async function route(req: http.IncomingMessage, url: URL, body: any): Promise<[number, Json]> {
    const smoke = typeof req.headers["x-gatehouse-smoke-test"] === "string" ? req.headers["x-gatehouse-smoke-test"] : null;
    const key = `${req.method} ${url.pathname}`;
    switch (key) {
        case "GET /health": {
            await pool.query("SELECT 1 FROM summary_packs LIMIT 1");
            return [200, { status: "ok", release }];
        }
        case "POST /api/v1/auth/register": {
            if (!body?.email || !body?.password) throw new HttpError(400, "email_and_password_required");
            const { rows } = await pool.query(
                "INSERT INTO users (email, password_hash, smoke_test_release) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING RETURNING id, email",
                [body.email, hashPassword(body.password), smoke],
            );
            if (rows.length === 0) throw new HttpError(409, "email_taken");
            return [201, rows[0]];
        }
        case "POST /api/v1/auth/login": {
            const { rows } = await pool.query("SELECT id, password_hash FROM users WHERE email = $1", [body?.email]);
            const [salt] = (rows[0]?.password_hash ?? ":").split(":");
            if (!rows[0] || hashPassword(String(body?.password), salt) !== rows[0].password_hash) throw new HttpError(401, "bad_credentials");
            return [200, { token: sign(rows[0].id) }];
        }
        case "GET /api/v1/users/me": {
            const { rows } = await pool.query("SELECT id, email, ai_allowlisted FROM users WHERE id = $1", [authenticate(req)]);
            if (!rows[0]) throw new HttpError(404, "user_not_found");
            return [200, rows[0]];
        }
        case "GET /api/v1/trades/summary": {
            const { rows } = await pool.query(
                "SELECT count(*)::int AS trade_count, count(*) FILTER (WHERE side = 'buy')::int AS buys, count(*) FILTER (WHERE side = 'sell')::int AS sells FROM trades WHERE user_id = $1",
                [authenticate(req)],
            );
            return [200, rows[0]];
        }
        case "GET /api/v1/market/klines": {
            const limit = Math.min(500, Math.max(1, Number(url.searchParams.get("limit") ?? 50)));
            return [200, klines(url.searchParams.get("symbol") ?? "BTCUSDT", limit)];
        }
        case "POST /api/v1/bubbles": {
            const userId = authenticate(req);
            if (!body?.symbol || !body?.candle_time || !body?.note) throw new HttpError(400, "symbol_candle_time_note_required");
            const { rows } = await pool.query(
                "INSERT INTO bubbles (user_id, symbol, candle_time, note) VALUES ($1, $2, $3, $4) RETURNING id, symbol, candle_time, note",
                [userId, body.symbol, body.candle_time, body.note],
            );
            return [201, rows[0]];
        }
        case "GET /api/v1/bubbles": {
            const { rows } = await pool.query("SELECT id, symbol, candle_time, note FROM bubbles WHERE user_id = $1 ORDER BY created_at DESC", [authenticate(req)]);
            return [200, { items: rows }];
        }
        case "POST /api/v1/ai/review": {
            const { rows } = await pool.query("SELECT ai_allowlisted FROM users WHERE id = $1", [authenticate(req)]);
            if (requireAllowlist && !rows[0]?.ai_allowlisted) throw new HttpError(403, "ai_not_allowlisted");
            return [200, { review: "AI review is not part of the demo" }];
        }
        case "POST /api/v1/sync/binance":
        case "POST /api/v1/sync/upbit": {
            const kind = url.pathname.endsWith("binance") ? "sync_binance" : "sync_upbit";
            const { rows } = await pool.query("INSERT INTO runs (user_id, kind, status, finished_at) VALUES ($1, $2, 'succeeded', now()) RETURNING id", [authenticate(req), kind]);
            return [202, { run_id: rows[0].id }];
        }
        case "POST /api/v1/packs/generate": {
            const userId = authenticate(req);
            const run = await pool.query("SELECT id FROM runs WHERE id = $1 AND user_id = $2", [body?.source_run_id, userId]).catch(() => ({ rows: [] }));
            if (run.rows.length === 0) throw new HttpError(404, "run_not_found");
            const { rows } = await pool.query(
                `INSERT INTO summary_packs (user_id, source_run_id, range, payload)
                 SELECT $1, $2, $3, jsonb_build_object('trades', count(*)) FROM trades WHERE user_id = $1 RETURNING id`,
                [userId, body.source_run_id, body.range ?? "30d"],
            );
            return [201, { pack_id: rows[0].id }];
        }
        case "GET /api/v1/packs/latest": {
            const { rows } = await pool.query(
                "SELECT id AS pack_id, source_run_id, range, payload, created_at FROM summary_packs WHERE user_id = $1 AND range = $2 ORDER BY created_at DESC LIMIT 1",
                [authenticate(req), url.searchParams.get("range") ?? "30d"],
            );
            if (!rows[0]) throw new HttpError(404, "no_pack");
            return [200, rows[0]];
        }
    }
    const pack = /^\/api\/v1\/packs\/([0-9a-f-]{36})$/.exec(url.pathname);
    if (req.method === "GET" && pack) {
        const { rows } = await pool.query(
            "SELECT id AS pack_id, source_run_id, range, payload, created_at FROM summary_packs WHERE id = $1 AND user_id = $2",
            [pack[1], authenticate(req)],
        );
        if (!rows[0]) throw new HttpError(404, "pack_not_found");
        return [200, rows[0]];
    }
    throw new HttpError(404, "not_found");
}

const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", async () => {
        let status: number;
        let payload: Json;
        try {
            const body = raw ? JSON.parse(raw) : undefined;
            [status, payload] = await route(req, new URL(req.url ?? "/", "http://localhost"), body);
        } catch (err: any) {
            status = err instanceof HttpError ? err.status : err instanceof SyntaxError ? 400 : 500;
            payload = { error: err instanceof HttpError ? err.code : status === 400 ? "invalid_json" : "internal_error" };
            if (status === 500) console.error(`${req.method} ${req.url}: ${err.message}`);
        }
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(payload));
    });
});

server.listen(port, "127.0.0.1", () => console.log(`demo app release ${release} listening on http://127.0.0.1:${port}`));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
        server.close();
        pool.end().finally(() => process.exit(0));
    });
}
