// The second app's stand-in (routine): what its release checklist expects of
// the API, which the deployed version implements only in part (it has
// /healthz, but no /readyz and no plan generation yet; checks/routine.smoke.yaml
// says so with `unsupported`). tests/contract.test.ts runs that spec against
// this stand-in, so the checklist's target is pinned until the app catches up.
//
//   GET  /healthz          200 {"status":"ok"}: the process answers (no dependencies)
//   GET  /readyz           200 when PostgreSQL answers (and Redis, where REDIS_URL is set); else 503 naming what failed
//   POST /plans/generate   {user_id, target_date, plan_source | source}: 201 with the plan; 409 for the same
//                          user and date; 400 for an empty plan_source or source; source normalised to rule | llm
//
// Errors are {"code","message"}; a body the schema cannot read is 422, as
// FastAPI answers. Tables: demo/routine-migrations (plain SQL for the runner).
// Env: DATABASE_URL (a SQLAlchemy URL such as postgresql+psycopg://... is
// accepted: the driver suffix is dropped), REDIS_URL (optional), PORT (8000).
import * as http from "http";
import * as net from "net";
import * as tls from "tls";
import { Pool } from "pg";

const env = (name: string, fallback?: string): string => {
    const value = process.env[name] ?? fallback;
    if (value === undefined) throw new Error(`routine stand-in: ${name} is not set`);
    return value;
};

const port = Number(env("PORT", "8000"));
const release = env("GATEHOUSE_RELEASE", "dev");
const redisUrl = process.env.REDIS_URL || undefined;
const pool = new Pool({ connectionString: libpqUrl(env("DATABASE_URL")), max: 5, connectionTimeoutMillis: 2000 });
// A connection the server drops while idle must not take the process down: the next query reports it.
pool.on("error", (err) => console.error(`database: ${err.message}`));

/** postgresql+psycopg://… (SQLAlchemy's form, which the real app needs) -> postgresql://… (libpq's). */
function libpqUrl(url: string): string {
    return url.replace(/^(postgres(?:ql)?)\+[A-Za-z0-9_]+:/, "$1:");
}

type Json = Record<string, unknown>;
class HttpError extends Error {
    constructor(readonly status: number, readonly code: string, message: string) {
        super(message);
    }
}

/** Sends PING (after AUTH, when the URL has a password) and expects +PONG. */
function pingRedis(url: string, timeoutMs = 2000): Promise<void> {
    const u = new URL(url);
    const secure = u.protocol === "rediss:";
    const port = Number(u.port || 6379);
    const command = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
    const auth = u.password ? command("AUTH", ...(u.username ? [decodeURIComponent(u.username)] : []), decodeURIComponent(u.password)) : "";
    return new Promise((resolve, reject) => {
        const socket = secure ? tls.connect({ host: u.hostname, port, servername: u.hostname }) : net.connect({ host: u.hostname, port });
        let answer = "";
        const done = (err?: Error) => {
            socket.destroy();
            err ? reject(err) : resolve();
        };
        socket.setTimeout(timeoutMs, () => done(new Error(`no answer in ${timeoutMs} ms`)));
        socket.on("error", (err) => done(err));
        socket.on(secure ? "secureConnect" : "connect", () => socket.write(auth + command("PING")));
        socket.on("data", (d) => {
            answer += d.toString();
            if (answer.startsWith("-")) return done(new Error(answer.split("\r\n")[0].slice(1)));
            if (answer.includes("+PONG")) done();
        });
    });
}

async function readiness(): Promise<[number, Json]> {
    const checks: Record<string, string> = {};
    const probe = async (name: string, check: () => Promise<unknown>) => {
        try {
            await check();
            checks[name] = "ok";
        } catch (err: any) {
            checks[name] = `error: ${err.message}`;
        }
    };
    // The plans table, not just a connection: ready means the migrated schema answers.
    await probe("database", () => pool.query("SELECT 1 FROM workout_plans LIMIT 1"));
    if (redisUrl) await probe("redis", () => pingRedis(redisUrl));
    else checks.redis = "not configured";
    const ready = Object.values(checks).every((c) => c === "ok" || c === "not configured");
    return [ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks }];
}

const RULE = ["rule", "rules", "rule_based", "rule-based", "fallback"];
const LLM = ["llm", "ai", "gpt", "openai"];

/** plan_source, else source: rule | llm; empty is a 400, as the checklist asks. */
function normalisedSource(body: Json): "rule" | "llm" {
    for (const field of ["plan_source", "source"]) {
        const value = body[field];
        if (value === undefined || value === null) continue;
        if (typeof value !== "string") throw new HttpError(422, "unprocessable_entity", `${field} must be a string`);
        const v = value.trim().toLowerCase();
        if (v === "") throw new HttpError(400, "validation", `${field} must not be empty`);
        if (RULE.includes(v)) return "rule";
        if (LLM.includes(v)) return "llm";
        throw new HttpError(400, "validation", `${field} must be rule or llm, got ${JSON.stringify(value)}`);
    }
    throw new HttpError(400, "validation", "plan_source or source is required");
}

async function generatePlan(raw: string): Promise<[number, Json]> {
    let body: Json;
    try {
        body = JSON.parse(raw);
    } catch {
        throw new HttpError(422, "unprocessable_entity", "body is not JSON");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(422, "unprocessable_entity", "body must be an object");
    const userId = typeof body.user_id === "number" ? String(body.user_id) : body.user_id;
    if (typeof userId !== "string" || userId.trim() === "") throw new HttpError(422, "unprocessable_entity", "user_id is required");
    const date = body.target_date;
    if (typeof date !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) {
        throw new HttpError(422, "unprocessable_entity", "target_date must be a date (YYYY-MM-DD)");
    }
    const source = normalisedSource(body);
    // A stand-in plan: the rule-based fallback's shape, whatever the source.
    const items = [{ exercise: "squat", sets: 3, reps: 10 }, { exercise: "push-up", sets: 3, reps: 12 }];
    try {
        const { rows } = await pool.query(
            "INSERT INTO workout_plans (user_id, target_date, source, items) VALUES ($1, $2, $3, $4) RETURNING id AS plan_id, user_id, to_char(target_date, 'YYYY-MM-DD') AS target_date, source, items, created_at",
            [userId, date, source, JSON.stringify(items)],
        );
        return [201, rows[0]];
    } catch (err: any) {
        if (err.code === "23505") throw new HttpError(409, "conflict", `a plan for user ${userId} on ${date} exists`);
        throw err;
    }
}

async function route(method: string, path: string, raw: string): Promise<[number, Json]> {
    switch (`${method} ${path}`) {
        case "GET /healthz":
            return [200, { status: "ok", release }];
        case "GET /readyz":
            return readiness();
        case "POST /plans/generate":
            return generatePlan(raw);
    }
    throw new HttpError(404, "not_found", `cannot ${method} ${path}`);
}

const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", async () => {
        let status: number;
        let payload: Json;
        try {
            [status, payload] = await route(req.method ?? "GET", new URL(req.url ?? "/", "http://localhost").pathname, raw);
        } catch (err: any) {
            if (err instanceof HttpError) [status, payload] = [err.status, { code: err.code, message: err.message }];
            else {
                console.error(`${req.method} ${req.url}: ${err.message}`);
                [status, payload] = [500, { code: "internal_error", message: "internal error" }];
            }
        }
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(payload));
    });
});

server.listen(port, "127.0.0.1", () => console.log(`routine stand-in release ${release} listening on http://127.0.0.1:${port}`));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
        server.close();
        pool.end().finally(() => process.exit(0));
    });
}
