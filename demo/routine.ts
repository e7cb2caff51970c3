// The second app's stand-in (routine): what its release checklist expects of
// the API and the scheduler/worker, which the deployed version implements only
// in part (it has /healthz, but no /readyz, no plan generation and no worker
// yet; checks/routine.smoke.yaml says so with `unsupported`).
// tests/contract.test.ts runs that spec against this stand-in, so the
// checklist's target is pinned until the app catches up. One program, three
// commands (the same bundle for every role):
//
//   node demo-routine.js [api]        the API (below)
//   node demo-routine.js worker       scheduler + worker: demo/routineWorker.ts
//   node demo-routine.js worker-check exit 0 when a worker of GATEHOUSE_RELEASE is alive, else 1 and why
//
//   GET  /healthz          200 {"status":"ok"}: the process answers (no dependencies)
//   GET  /readyz           200 when PostgreSQL answers (and Redis, where REDIS_URL is set); else 503 naming what failed
//   POST /plans/generate   {user_id, target_date, plan_source | source}: 201 with the plan; 409 for the same
//                          user and date; 400 for an empty plan_source or source (either one, even beside
//                          a valid other) or two that disagree; source normalised to rule | llm
//   POST /webhooks/{provider}  a provider's event (Kakao: /webhooks/kakao). The checklist names no path or
//                          fields, so these are ours: body {event_id, idempotency_key?, schema_version?}, the key
//                          also as an Idempotency-Key header, else the event id. Stored once per
//                          (provider, event_id) and per (provider, idempotency_key), the seed's unique
//                          constraints; a repeated delivery is not stored again, its row's retry_count goes
//                          up and it answers 200 {"duplicate": true} too: any 2xx tells a sender "received",
//                          so it stops retrying. With WEBHOOK_SECRET set, X-Webhook-Signature must be the
//                          hex HMAC-SHA256 of the body (401 otherwise, not stored); signature_state is then
//                          "verified", else "unverified". Each delivery is logged (the checklist keeps webhook logs).
//
// Errors are {"code","message"}; a body the schema cannot read is 422, as
// FastAPI answers. Tables: demo/routine-migrations (plain SQL for the runner).
// Env: DATABASE_URL (a SQLAlchemy URL such as postgresql+psycopg://... is
// accepted: the driver suffix is dropped), REDIS_URL (optional for the API),
// PORT (8000), GATEHOUSE_RELEASE (answered by /healthz), WEBHOOK_SECRET
// (optional); the worker's in demo/routineWorker.ts.
import * as crypto from "crypto";
import * as http from "http";
import { Pool } from "pg";
import { env, openPool, pingRedis } from "./routineLib";
import { runWorker, workerCheck } from "./routineWorker";

type Json = Record<string, unknown>;
class HttpError extends Error {
    constructor(readonly status: number, readonly code: string, message: string) {
        super(message);
    }
}

async function readiness(pool: Pool, redisUrl: string | undefined): Promise<[number, Json]> {
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

/** plan_source and/or source: rule | llm. Either one empty is a 400, as the checklist asks; so are two that disagree. */
function normalisedSource(body: Json): "rule" | "llm" {
    const found: ("rule" | "llm")[] = [];
    for (const field of ["plan_source", "source"]) {
        const value = body[field];
        if (value === undefined || value === null) continue;
        if (typeof value !== "string") throw new HttpError(422, "unprocessable_entity", `${field} must be a string`);
        const v = value.trim().toLowerCase();
        if (v === "") throw new HttpError(400, "validation", `${field} must not be empty`);
        if (RULE.includes(v)) found.push("rule");
        else if (LLM.includes(v)) found.push("llm");
        else throw new HttpError(400, "validation", `${field} must be rule or llm, got ${JSON.stringify(value)}`);
    }
    if (found.length === 0) throw new HttpError(400, "validation", "plan_source or source is required");
    if (found.length === 2 && found[0] !== found[1]) throw new HttpError(400, "validation", `plan_source (${found[0]}) and source (${found[1]}) disagree`);
    return found[0];
}

function jsonObject(raw: string): Json {
    let body: unknown;
    try {
        body = JSON.parse(raw);
    } catch {
        throw new HttpError(422, "unprocessable_entity", "body is not JSON");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(422, "unprocessable_entity", "body must be an object");
    return body as Json;
}

/** A required id field: a non-empty string, or a number taken as its decimal string. */
function idField(body: Json, field: string): string {
    const value = typeof body[field] === "number" ? String(body[field]) : body[field];
    if (typeof value !== "string" || value.trim() === "") throw new HttpError(422, "unprocessable_entity", `${field} is required`);
    return value;
}

async function generatePlan(pool: Pool, raw: string): Promise<[number, Json]> {
    const body = jsonObject(raw);
    const userId = idField(body, "user_id");
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

/** Stores a provider's event once (see the header); a repeated delivery counts as a retry of the stored one. */
async function receiveWebhook(pool: Pool, provider: string, raw: string, headers: http.IncomingHttpHeaders): Promise<[number, Json]> {
    const secret = process.env.WEBHOOK_SECRET;
    let signatureState = "unverified";
    if (secret) {
        const expected = crypto.createHmac("sha256", secret).update(raw).digest();
        const given = Buffer.from(String(headers["x-webhook-signature"] ?? ""), "hex");
        if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) throw new HttpError(401, "invalid_signature", "X-Webhook-Signature is not the HMAC-SHA256 of the body");
        signatureState = "verified";
    }
    const body = jsonObject(raw);
    const eventId = idField(body, "event_id");
    const header = headers["idempotency-key"];
    const idempotencyKey = body.idempotency_key !== undefined ? idField(body, "idempotency_key") : typeof header === "string" && header.trim() !== "" ? header : eventId;
    const schemaVersion = body.schema_version ?? 1;
    if (!Number.isInteger(schemaVersion) || (schemaVersion as number) < 1) throw new HttpError(422, "unprocessable_entity", "schema_version must be a positive integer");
    // No conflict target: either unique pair makes it a repeat.
    const inserted = await pool.query(
        "INSERT INTO webhook_events (provider, event_id, idempotency_key, schema_version, signature_state) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        [provider, eventId, idempotencyKey, schemaVersion, signatureState],
    );
    if (inserted.rows.length) {
        console.log(`webhook ${provider} event ${eventId} (key ${idempotencyKey}): stored as ${inserted.rows[0].id}, signature ${signatureState}`);
        return [200, { received: true, duplicate: false, id: inserted.rows[0].id }];
    }
    const { rows } = await pool.query(
        "UPDATE webhook_events SET retry_count = retry_count + 1 WHERE provider = $1 AND (event_id = $2 OR idempotency_key = $3) RETURNING id, retry_count",
        [provider, eventId, idempotencyKey],
    );
    console.log(`webhook ${provider} event ${eventId} (key ${idempotencyKey}): repeated delivery of ${rows.map((r) => r.id).join(", ")}, not stored again`);
    return [200, { received: true, duplicate: true, id: rows[0]?.id ?? null, retry_count: rows[0]?.retry_count ?? null }];
}

function serveApi(): void {
    const port = Number(env("PORT", "8000"));
    const release = env("GATEHOUSE_RELEASE", "dev");
    const redisUrl = process.env.REDIS_URL || undefined;
    const pool = openPool();

    const route = async (req: http.IncomingMessage, path: string, raw: string): Promise<[number, Json]> => {
        const method = req.method ?? "GET";
        switch (`${method} ${path}`) {
            case "GET /healthz":
                return [200, { status: "ok", release }];
            case "GET /readyz":
                return readiness(pool, redisUrl);
            case "POST /plans/generate":
                return generatePlan(pool, raw);
        }
        const webhook = method === "POST" && /^\/webhooks\/([a-z0-9_-]{1,32})$/.exec(path);
        if (webhook) return receiveWebhook(pool, webhook[1], raw, req.headers);
        throw new HttpError(404, "not_found", `cannot ${method} ${path}`);
    };

    const server = http.createServer((req, res) => {
        let raw = "";
        req.on("data", (d) => (raw += d));
        req.on("end", async () => {
            let status: number;
            let payload: Json;
            try {
                [status, payload] = await route(req, new URL(req.url ?? "/", "http://localhost").pathname, raw);
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
}

const USAGE = `usage: node demo-routine.js [api | worker | worker-check]
  api           the HTTP API (default); env DATABASE_URL, PORT, REDIS_URL, GATEHOUSE_RELEASE, WEBHOOK_SECRET
  worker        scheduler + worker; env DATABASE_URL, REDIS_URL, GATEHOUSE_RELEASE, SCHEDULER_INTERVAL_MS,
                NOTIFICATION_SEND_CAP, WORKER_HEARTBEAT_TTL_MS, REDIS_KEY_PREFIX
  worker-check  exit 0 when a worker of GATEHOUSE_RELEASE is alive, else 1; env REDIS_URL, GATEHOUSE_RELEASE, REDIS_KEY_PREFIX`;

function main(argv: string[]): void {
    const command = argv[0] ?? "api";
    const fail = (err: Error) => {
        console.error(`routine stand-in ${command}: ${err.message}`);
        process.exit(1);
    };
    try {
        if (command === "--help" || command === "-h") console.log(USAGE);
        else if (command === "api") serveApi();
        else if (command === "worker") runWorker().catch(fail);
        else if (command === "worker-check") workerCheck().then((code) => (process.exitCode = code), fail);
        else {
            console.error(`${USAGE}\nunknown command ${JSON.stringify(command)}`);
            process.exitCode = 2;
        }
    } catch (err: any) {
        fail(err);
    }
}

main(process.argv.slice(2));
