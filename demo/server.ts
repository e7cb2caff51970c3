// The first app's stand-in (kifu): a real HTTP server on the migrated schema
// that follows the real backend's contract for every call the release
// checklist smokes: the same paths, fields, status codes, error bodies
// {"code","message"} and auth (a bearer token on everything but /health,
// /api/v1/auth/* and /api/v1/market/klines). checks/kifu.smoke.yaml runs
// against it locally and against the real app in production, and
// tests/contract.test.ts pins the two together. Not the real backend: no
// exchange, no AI provider, tokens are HMAC-signed user ids.
//
// Env: DATABASE_URL, JWT_SECRET, KIFU_ENC_KEY, PORT (8181), GATEHOUSE_RELEASE (answered by
// GET /health so tests see which version answered), APP_ENV and
// AI_REQUIRE_ALLOWLIST (the allowlist rule below).
import * as crypto from "crypto";
import * as http from "http";
import { Pool, PoolClient } from "pg";

const env = (name: string, fallback?: string): string => {
    const value = process.env[name] ?? fallback;
    if (value === undefined) throw new Error(`demo app: ${name} is not set`);
    return value;
};

const port = Number(env("PORT", "8181"));
const jwtSecret = env("JWT_SECRET");
requireEncryptionKey();
const release = env("GATEHOUSE_RELEASE", "dev");
// The app's rule: enforced when AI_REQUIRE_ALLOWLIST=true, or when it is unset in production.
const requireAllowlist = process.env.AI_REQUIRE_ALLOWLIST === undefined ? process.env.APP_ENV === "production" : process.env.AI_REQUIRE_ALLOWLIST === "true";
const pool = new Pool({ connectionString: env("DATABASE_URL"), max: 5 });
// A connection the server drops while idle must not take the process down: the next query reports it.
pool.on("error", (err) => console.error(`database: ${err.message}`));

const TIMEFRAMES = ["1m", "15m", "1h", "4h", "1d"];
const KLINE_INTERVALS: Record<string, number> = { "1m": 60, "15m": 900, "1h": 3600, "4h": 14_400, "1d": 86_400 };
// The demo schema's trades.exchange allows these two venues.
const VENUES = ["binance", "upbit"];
const RANGES = ["7d", "30d", "all"];

/**
 * As the real backend at start (internal/infrastructure/crypto/aes.go, LoadKeyFromEnv, with Go's
 * base64.StdEncoding): KIFU_ENC_KEY must be standard padded base64 of exactly 32 bytes, or the
 * process exits 1 before it listens. A stack that generates the key in another form fails here
 * as it would with the real app.
 */
function requireEncryptionKey(): void {
    const key = process.env.KIFU_ENC_KEY;
    const decoded = key && /^[A-Za-z0-9+/]*={0,2}$/.test(key) ? Buffer.from(key, "base64") : undefined;
    const problem = !key ? "encryption key not set" : !decoded || decoded.toString("base64") !== key ? "illegal base64 data" : decoded.length !== 32 ? "encryption key must be 32 bytes after base64 decoding" : undefined;
    if (problem) {
        console.error(`KIFU_ENC_KEY environment variable is required: ${problem}`);
        process.exit(1);
    }
}

type Json = Record<string, unknown> | unknown[];
class HttpError extends Error {
    constructor(readonly status: number, readonly code: string, message: string) {
        super(message);
    }
}
const invalid = (message: string) => new HttpError(400, "INVALID_REQUEST", message);

interface Request {
    method: string;
    url: URL;
    headers: http.IncomingHttpHeaders;
    raw: Buffer;
    /** The authenticated user, on every path but the public ones. */
    userId: string;
}

// Tokens are HMAC-signed user ids: enough for a stand-in, no dependency.
function sign(userId: string): string {
    const payload = Buffer.from(JSON.stringify({ sub: userId, iat: Date.now() })).toString("base64url");
    return `${payload}.${crypto.createHmac("sha256", jwtSecret).update(payload).digest("base64url")}`;
}

function authenticate(headers: http.IncomingHttpHeaders): string {
    const unauthorized = new HttpError(401, "UNAUTHORIZED", "invalid or missing JWT");
    const [, token] = /^Bearer (.+)$/.exec(headers.authorization ?? "") ?? [];
    const [payload, sig] = (token ?? "").split(".");
    if (!payload || !sig) throw unauthorized;
    const expected = crypto.createHmac("sha256", jwtSecret).update(payload).digest("base64url");
    if (sig.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) throw unauthorized;
    return JSON.parse(Buffer.from(payload, "base64url").toString()).sub;
}

const isPublic = (path: string) => path === "/health" || path.startsWith("/api/v1/auth/") || path === "/api/v1/market/klines";

function hashPassword(password: string, salt = crypto.randomBytes(16).toString("hex")): string {
    return `${salt}:${crypto.scryptSync(password, salt, 32).toString("hex")}`;
}

function json(req: Request): any {
    if (req.raw.length === 0) return {};
    try {
        return JSON.parse(req.raw.toString("utf8"));
    } catch {
        throw invalid("invalid request body");
    }
}

const text = (value: unknown) => (typeof value === "string" ? value.trim() : "");
const isUuid = (value: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);

async function register(req: Request): Promise<[number, Json]> {
    const body = json(req);
    const [email, password, name] = [text(body.email).toLowerCase(), text(body.password), text(body.name)];
    if (!email || !password || !name) throw invalid("email, password, and name are required");
    // The app ignores the smoke-test header; the stand-in records it so tests can tell smoke users apart.
    const smoke = typeof req.headers["x-gatehouse-smoke-test"] === "string" ? req.headers["x-gatehouse-smoke-test"] : null;
    const { rows } = await pool.query(
        "INSERT INTO users (email, password_hash, display_name, smoke_test_release) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING RETURNING id",
        [email, hashPassword(password), name, smoke],
    );
    if (rows.length === 0) throw new HttpError(409, "EMAIL_EXISTS", "email already exists");
    return [200, { user_id: rows[0].id }];
}

async function login(req: Request): Promise<[number, Json]> {
    const body = json(req);
    const { rows } = await pool.query("SELECT id, password_hash FROM users WHERE email = $1", [text(body.email).toLowerCase()]);
    const [salt] = (rows[0]?.password_hash ?? ":").split(":");
    if (!rows[0] || hashPassword(String(body.password ?? ""), salt) !== rows[0].password_hash) throw new HttpError(401, "UNAUTHORIZED", "invalid credentials");
    return [200, { access_token: sign(rows[0].id), refresh_token: crypto.randomBytes(32).toString("base64url") }];
}

async function me(req: Request): Promise<[number, Json]> {
    const { rows } = await pool.query("SELECT id, email, display_name AS name, ai_allowlisted, false AS is_admin, created_at FROM users WHERE id = $1", [req.userId]);
    if (!rows[0]) throw new HttpError(404, "USER_NOT_FOUND", "user not found");
    return [200, rows[0]];
}

async function tradeSummary(req: Request): Promise<[number, Json]> {
    // No rows: null, not []. The app's handler returns nil Go slices for a user with no trades, which
    // encoding/json writes as null (kifu's backend/internal/interfaces/http/handlers/trade_handler.go, TradeSummaryResponse).
    const by = async (column: string) => {
        const { rows } = await pool.query(`SELECT ${column}, count(*)::int AS total_trades FROM trades WHERE user_id = $1 GROUP BY 1 ORDER BY 1`, [req.userId]);
        return rows.length > 0 ? rows : null;
    };
    const { rows } = await pool.query(
        "SELECT count(*)::int AS total_trades, count(*) FILTER (WHERE side = 'buy')::int AS buy_count, count(*) FILTER (WHERE side = 'sell')::int AS sell_count FROM trades WHERE user_id = $1",
        [req.userId],
    );
    return [200, { exchange: req.url.searchParams.get("exchange") ?? "", totals: rows[0], by_exchange: await by("exchange"), by_side: await by("side"), by_symbol: await by("symbol") }];
}

/** Deterministic synthetic candles: the real app proxies an exchange; the stand-in needs no internet. */
function klines(req: Request): [number, Json] {
    const symbol = (req.url.searchParams.get("symbol") ?? "").toUpperCase();
    const interval = req.url.searchParams.get("interval") ?? "1d";
    const limit = Number(req.url.searchParams.get("limit") ?? 500);
    if (!/^[A-Z0-9]{3,20}$/.test(symbol)) throw invalid("symbol is required");
    if (!(interval in KLINE_INTERVALS)) throw invalid("interval is invalid");
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid("limit is invalid");
    const step = KLINE_INTERVALS[interval];
    const last = Math.floor(Date.now() / 1000 / step) * step;
    return [
        200,
        Array.from({ length: limit }, (_, i) => {
            const open = 90_000 + ((symbol.length * 997 + i * 313) % 5000);
            return { time: last - (limit - 1 - i) * step, open, high: open + 800, low: open - 700, close: open + 120, volume: 10 + i };
        }),
    ];
}

function bubbleOf(row: any): Json {
    // The demo schema has one note column; timeframe, price and memo ride in it as JSON.
    const note = JSON.parse(row.note);
    return { id: row.id, symbol: row.symbol, timeframe: note.timeframe, candle_time: row.candle_time, price: note.price, bubble_type: "manual", ...(note.memo != null ? { memo: note.memo } : {}) };
}

async function createBubble(req: Request): Promise<[number, Json]> {
    const body = json(req);
    const symbol = text(body.symbol).toUpperCase();
    const timeframe = text(body.timeframe).toLowerCase();
    if (!/^[A-Z0-9]{3,12}$/.test(symbol)) throw new HttpError(400, "INVALID_SYMBOL", "symbol is invalid");
    if (!TIMEFRAMES.includes(timeframe)) throw new HttpError(400, "INVALID_TIMEFRAME", "timeframe is invalid");
    const candleTime = new Date(text(body.candle_time));
    if (Number.isNaN(candleTime.getTime())) throw invalid("candle_time is required");
    if (typeof body.price !== "string" || !body.price.trim()) throw invalid("price is required");
    const note = JSON.stringify({ timeframe, price: body.price.trim(), memo: typeof body.memo === "string" ? body.memo : null });
    const { rows } = await pool.query("INSERT INTO bubbles (user_id, symbol, candle_time, note) VALUES ($1, $2, $3, $4) RETURNING *", [req.userId, symbol, candleTime, note]);
    return [200, bubbleOf(rows[0])];
}

async function listBubbles(req: Request): Promise<[number, Json]> {
    const page = Number(req.url.searchParams.get("page") ?? 1);
    const limit = Math.min(200, Number(req.url.searchParams.get("limit") ?? 50));
    if (!Number.isInteger(page) || page < 1 || !Number.isInteger(limit) || limit < 1) throw invalid("invalid number");
    const { rows } = await pool.query("SELECT *, count(*) OVER ()::int AS total FROM bubbles WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3", [req.userId, limit, (page - 1) * limit]);
    const total = rows[0]?.total ?? (await pool.query("SELECT count(*)::int AS n FROM bubbles WHERE user_id = $1", [req.userId])).rows[0].n;
    return [200, { page, limit, total, items: rows.map(bubbleOf) }];
}

async function deleteBubble(req: Request, id: string): Promise<[number, Json]> {
    if (!isUuid(id)) throw invalid("invalid id");
    const { rowCount } = await pool.query("DELETE FROM bubbles WHERE id = $1 AND user_id = $2", [id, req.userId]);
    if (!rowCount) throw new HttpError(404, "BUBBLE_NOT_FOUND", "bubble not found");
    return [200, { deleted: true }];
}

async function aiOneShot(req: Request): Promise<[number, Json]> {
    const body = json(req);
    // The allowlist answers before anything else: no provider call for a user not on it.
    if (requireAllowlist) {
        const { rows } = await pool.query("SELECT ai_allowlisted FROM users WHERE id = $1", [req.userId]);
        if (!rows[0]?.ai_allowlisted) throw new HttpError(403, "ALLOWLIST_REQUIRED", "AI is available to allowlisted users only");
    }
    const provider = text(body.provider).toLowerCase() || "openai";
    if (!["openai", "claude", "gemini"].includes(provider)) throw invalid("unsupported provider");
    if (!text(body.symbol) || !text(body.timeframe) || !text(body.price)) throw invalid("symbol, timeframe, and price are required");
    return [200, { provider, model: "stand-in", prompt_type: text(body.prompt_type), response: "The stand-in calls no AI provider.", created_at: new Date().toISOString() }];
}

/** multipart/form-data, parsed by the platform's own Request (undici). */
async function formData(req: Request): Promise<FormData> {
    const contentType = String(req.headers["content-type"] ?? "");
    if (!contentType.startsWith("multipart/form-data")) throw invalid("file is required");
    try {
        return await new globalThis.Request("http://stand-in/", { method: "POST", headers: { "content-type": contentType }, body: req.raw }).formData();
    } catch {
        throw invalid("invalid multipart body");
    }
}

/** CSV import into trades: every import is a run, and the answer carries its run_id. */
async function importTrades(req: Request): Promise<[number, Json]> {
    const form = await formData(req);
    const file = form.get("file");
    if (!(file instanceof Blob)) throw invalid("file is required");
    const venue = String(form.get("venue") ?? "").trim().toLowerCase();
    const assetClass = String(form.get("asset_class") ?? "").trim().toLowerCase();
    if (!venue || !assetClass) throw invalid("venue and asset_class are required");
    if (assetClass !== "crypto" && assetClass !== "stock") throw invalid("asset_class must be crypto or stock");
    if (!VENUES.includes(venue)) throw invalid(`venue ${venue} is not supported by the stand-in (${VENUES.join(", ")})`);
    const [header, ...lines] = (await file.text()).split(/\r?\n/).filter((l) => l.trim() !== "");
    const columns = (header ?? "").split(",").map((c) => c.trim().toLowerCase());
    const missing = ["executed_at", "symbol", "side", "qty", "price"].filter((c) => !columns.includes(c));
    if (missing.length > 0) throw invalid(`missing columns: ${missing.join(", ")}`);
    const at = (cells: string[], column: string) => (cells[columns.indexOf(column)] ?? "").trim();
    return transaction(async (db) => {
        const run = await db.query("INSERT INTO runs (user_id, status) VALUES ($1, 'running') RETURNING run_id", [req.userId]);
        const runId = run.rows[0].run_id;
        const issues: { row: number; reason: string }[] = [];
        let imported = 0;
        for (const [i, line] of lines.entries()) {
            const cells = line.split(",");
            const side = at(cells, "side").toLowerCase();
            const executedAt = new Date(at(cells, "executed_at"));
            if (!["buy", "sell"].includes(side) || Number.isNaN(executedAt.getTime()) || !/^[A-Z0-9-]{3,20}$/i.test(at(cells, "symbol")) || !(Number(at(cells, "qty")) > 0) || !(Number(at(cells, "price")) > 0)) {
                issues.push({ row: i + 2, reason: "invalid row" });
                continue;
            }
            await db.query("INSERT INTO trades (user_id, exchange, symbol, side, price, quantity, executed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)", [
                req.userId, venue, at(cells, "symbol").toUpperCase(), side, at(cells, "price"), at(cells, "qty"), executedAt,
            ]);
            imported++;
        }
        await db.query("UPDATE runs SET status = 'succeeded', finished_at = now() WHERE run_id = $1", [runId]);
        return [200, { imported, skipped: issues.length, duplicates: 0, issues, issue_count: issues.length, venue, source: "csv", run_id: runId }];
    });
}

const PACK_COLUMNS = "pack_id, user_id, source_run_id, range, payload->>'reconciliation_status' AS reconciliation_status, payload, created_at";

async function generatePack(req: Request): Promise<[number, Json]> {
    const body = json(req);
    const runId = text(body.source_run_id);
    if (!runId) throw invalid("source_run_id is required");
    if (!isUuid(runId)) throw invalid("source_run_id is invalid");
    const range = text(body.range) || "30d";
    if (!RANGES.includes(range)) throw new HttpError(400, "PACK_GENERATE_FAILED", `range must be one of ${RANGES.join(", ")}`);
    const run = await pool.query("SELECT run_id FROM runs WHERE run_id = $1 AND user_id = $2", [runId, req.userId]);
    if (run.rows.length === 0) throw new HttpError(404, "RUN_NOT_FOUND", "sync/import run not found");
    const days = range === "all" ? null : Number.parseInt(range, 10);
    const { rows } = await pool.query(
        `INSERT INTO summary_packs (user_id, source_run_id, range, payload)
         SELECT $1, $2, $3, jsonb_build_object('trades', count(*), 'reconciliation_status', CASE WHEN count(*) > 0 THEN 'ok' ELSE 'no_data' END)
         FROM trades WHERE user_id = $1 AND ($4::int IS NULL OR executed_at >= now() - make_interval(days => $4::int))
         RETURNING pack_id, payload->>'reconciliation_status' AS reconciliation_status`,
        [req.userId, runId, range, days],
    );
    return [200, rows[0]];
}

async function latestPack(req: Request): Promise<[number, Json]> {
    const { rows } = await pool.query(`SELECT ${PACK_COLUMNS} FROM summary_packs WHERE user_id = $1 AND range = $2 ORDER BY created_at DESC LIMIT 1`, [
        req.userId,
        req.url.searchParams.get("range") || "30d",
    ]);
    if (!rows[0]) throw new HttpError(404, "PACK_NOT_FOUND", "latest pack not found");
    return [200, rows[0]];
}

async function packById(req: Request, id: string): Promise<[number, Json]> {
    if (!isUuid(id)) throw invalid("pack_id is invalid");
    const { rows } = await pool.query(`SELECT ${PACK_COLUMNS} FROM summary_packs WHERE pack_id = $1 AND user_id = $2`, [id, req.userId]);
    if (!rows[0]) throw new HttpError(404, "PACK_NOT_FOUND", "pack not found");
    return [200, rows[0]];
}

async function transaction<T>(work: (db: PoolClient) => Promise<T>): Promise<T> {
    const db = await pool.connect();
    try {
        await db.query("BEGIN");
        const result = await work(db);
        await db.query("COMMIT");
        return result;
    } catch (err) {
        await db.query("ROLLBACK").catch(() => {});
        throw err;
    } finally {
        db.release();
    }
}

async function route(req: Request): Promise<[number, Json]> {
    const path = req.url.pathname;
    switch (`${req.method} ${path}`) {
        case "GET /health":
            // Healthy means the migrated schema answers; `release` tells tests which version did.
            await pool.query("SELECT 1 FROM summary_packs LIMIT 1");
            return [200, { status: "healthy", release }];
        case "POST /api/v1/auth/register":
            return register(req);
        case "POST /api/v1/auth/login":
            return login(req);
        case "GET /api/v1/market/klines":
            return klines(req);
        case "GET /api/v1/users/me":
            return me(req);
        case "GET /api/v1/trades/summary":
            return tradeSummary(req);
        case "POST /api/v1/bubbles":
            return createBubble(req);
        case "GET /api/v1/bubbles":
            return listBubbles(req);
        case "POST /api/v1/ai/one-shot":
            return aiOneShot(req);
        case "POST /api/v1/imports/trades":
            return importTrades(req);
        case "POST /api/v1/packs/generate":
            return generatePack(req);
        case "GET /api/v1/packs/latest":
            return latestPack(req);
    }
    const bubble = /^\/api\/v1\/bubbles\/([^/]+)$/.exec(path);
    if (req.method === "DELETE" && bubble) return deleteBubble(req, bubble[1]);
    const pack = /^\/api\/v1\/packs\/([^/]+)$/.exec(path);
    if (req.method === "GET" && pack) return packById(req, pack[1]);
    throw new HttpError(404, "NOT_FOUND", `cannot ${req.method} ${path}`);
}

async function handle(incoming: http.IncomingMessage, raw: Buffer): Promise<[number, Json]> {
    try {
        const url = new URL(incoming.url ?? "/", "http://localhost");
        // Auth comes before routing, as the app's middleware does: an unknown private path is 401 without a token.
        const userId = isPublic(url.pathname) ? "" : authenticate(incoming.headers);
        return await route({ method: incoming.method ?? "GET", url, headers: incoming.headers, raw, userId });
    } catch (err: any) {
        if (err instanceof HttpError) return [err.status, { code: err.code, message: err.message }];
        console.error(`${incoming.method} ${incoming.url}: ${err.message}`);
        return [500, { code: "INTERNAL_ERROR", message: "internal error" }];
    }
}

const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", async () => {
        const [status, payload] = await handle(req, Buffer.concat(chunks));
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
