// The second app's stand-in (routine): its API as the app's develop branch
// answers it (FastAPI; apps/backend/src/godlife_backend/adapter/webapi/ in
// the app), plus what its release checklist expects and no branch has yet
// (/readyz, the scheduler/worker). tests/contract.test.ts runs
// checks/routine.smoke.yaml against it and pins the answers below. One
// program, three commands (the same bundle for every role):
//
//   node demo-routine.js [api]        the API (below)
//   node demo-routine.js worker       scheduler + worker: demo/routineWorker.ts
//   node demo-routine.js worker-check exit 0 when a worker of GATEHOUSE_RELEASE is alive, else 1 and why
//
//   GET  /healthz          200 {"status":"ok"}: the process answers (no dependencies)
//   GET  /readyz           not in the app (its docs list it as planned); here for the local stack, which declares
//                          readyz in appFeatures: 200 when PostgreSQL answers (and Redis, where REDIS_URL is set),
//                          else 503 naming what failed
//   POST /auth/resolve     {kakao_user_id, name?}: 200 {user_id, kakao_user_id, name}, the user of that Kakao id,
//                          made on first use (develop's routers/auth.py); a blank kakao_user_id 400
//   POST /plans/generate   {user_id: UUID, target_date, plan_source?, source?} (plan_source wins; neither = "rule"):
//                          201 {id, user_id, target_date, source, status: "ACTIVE"}; the source stripped and
//                          lower-cased, anything but rule or llm 400; the same user and date again 409;
//                          a user_id that is no UUID 422; a UUID with no users row 500 (a foreign key)
//   POST /webhooks/{provider}  a provider's event (Kakao: /webhooks/kakao). The checklist names no path or
//                          fields, so these are ours: body {event_id, idempotency_key?, schema_version?}, the key
//                          also as an Idempotency-Key header, else the event id. Stored once per
//                          (provider, event_id) and per (provider, idempotency_key); a repeated delivery is not
//                          stored again, its row's retry_count goes up and it answers 200 {"duplicate": true}
//                          too: any 2xx tells a sender "received", so it stops retrying. With WEBHOOK_SECRET
//                          set, X-Webhook-Signature must be the hex HMAC-SHA256 of the body (401 otherwise, not
//                          stored); signature_state is then "verified", else "unverified". Each delivery is
//                          logged (the checklist keeps webhook logs).
//
// Errors are FastAPI's: {"detail": "<message>"}; a body the schema cannot
// read 422 {"detail": [{type, loc, msg, input}, ...]} (pydantic's form); an
// unexpected error 500 text/plain "Internal Server Error". Tables:
// demo/routine-migrations (plain SQL for the runner), demo/routine-pgm.
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
/** An error FastAPI answers as {"detail": ...}: a message, or pydantic's list of what the body got wrong. */
class HttpError extends Error {
    constructor(readonly status: number, readonly detail: string | Json[]) {
        super(typeof detail === "string" ? detail : JSON.stringify(detail));
    }
}

/** A 422 as FastAPI gives it for a body field pydantic refuses. */
function invalidField(field: string, type: string, msg: string, input: unknown): HttpError {
    return new HttpError(422, [{ type, loc: ["body", field], msg, input: input ?? null }]);
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

function jsonObject(raw: string): Json {
    let body: unknown;
    try {
        body = JSON.parse(raw);
    } catch {
        throw new HttpError(422, [{ type: "json_invalid", loc: ["body", 0], msg: "JSON decode error", input: {} }]);
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(422, [{ type: "model_attributes_type", loc: ["body"], msg: "Input should be a valid dictionary or object to extract fields from", input: body }]);
    return body as Json;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function uuidField(body: Json, field: string): string {
    const value = body[field];
    if (value === undefined) throw invalidField(field, "missing", "Field required", body);
    if (typeof value !== "string" || !UUID.test(value)) throw invalidField(field, "uuid_parsing", "Input should be a valid UUID, invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-]", value);
    return value.toLowerCase().replace(/^(.{8})-?(.{4})-?(.{4})-?(.{4})-?(.{12})$/, "$1-$2-$3-$4-$5");
}

function stringField(body: Json, field: string, required: boolean): string | undefined {
    const value = body[field];
    if (value === undefined || (value === null && !required)) {
        if (required) throw invalidField(field, "missing", "Field required", body);
        return undefined;
    }
    if (typeof value !== "string") throw invalidField(field, "string_type", "Input should be a valid string", value);
    return value;
}

/** plan_source wins over source, neither means rule; stripped and lower-cased, it must be rule or llm (the app's exercise_plan_service.py). */
function normalisedSource(body: Json): string {
    const given = stringField(body, "plan_source", false) ?? stringField(body, "source", false) ?? "rule";
    const source = given.trim().toLowerCase();
    if (source !== "rule" && source !== "llm") throw new HttpError(400, "source must be one of [llm, rule]");
    return source;
}

async function generatePlan(pool: Pool, raw: string): Promise<[number, Json]> {
    const body = jsonObject(raw);
    const userId = uuidField(body, "user_id");
    const date = body.target_date;
    if (typeof date !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) {
        throw invalidField("target_date", date === undefined ? "missing" : "date_from_datetime_parsing", date === undefined ? "Field required" : "Input should be a valid date", date ?? body);
    }
    const source = normalisedSource(body);
    const existing = await pool.query("SELECT 1 FROM workout_plans WHERE user_id = $1 AND target_date = $2 AND status = 'ACTIVE'", [userId, date]);
    if (existing.rows.length) throw new HttpError(409, "An ACTIVE exercise plan already exists for this user and target_date.");
    // A stand-in plan: the rule-based fallback's shape, whatever the source.
    const items = [{ exercise: "squat", sets: 3, reps: 10 }, { exercise: "push-up", sets: 3, reps: 12 }];
    try {
        // A user_id with no users row fails here on the foreign key: a 500, as in the app, which does not look the user up first.
        const { rows } = await pool.query(
            "INSERT INTO workout_plans (user_id, target_date, source, items) VALUES ($1, $2, $3, $4) RETURNING id, user_id, to_char(target_date, 'YYYY-MM-DD') AS target_date, source, status",
            [userId, date, source, JSON.stringify(items)],
        );
        return [201, rows[0]];
    } catch (err: any) {
        if (err.code === "23505") throw new HttpError(409, "An ACTIVE exercise plan already exists for this user and target_date.");
        throw err;
    }
}

/** The user of a Kakao id, made on first use: the same id again answers the same user (develop's routers/auth.py). */
async function resolveUser(pool: Pool, raw: string): Promise<[number, Json]> {
    const body = jsonObject(raw);
    const kakaoUserId = stringField(body, "kakao_user_id", true)!.trim();
    if (!kakaoUserId) throw new HttpError(400, "kakao_user_id is required");
    const name = (stringField(body, "name", false) ?? "").trim() || "Kakao User";
    const { rows } = await pool.query(
        `WITH made AS (INSERT INTO users (kakao_user_id, name) VALUES ($1, $2) ON CONFLICT (kakao_user_id) DO NOTHING RETURNING id, kakao_user_id, name)
         SELECT id AS user_id, kakao_user_id, name FROM made UNION ALL SELECT id, kakao_user_id, name FROM users WHERE kakao_user_id = $1`,
        [kakaoUserId, name],
    );
    return [200, rows[0]];
}

/** A required id field: a non-empty string, or a number taken as its decimal string. */
function idField(body: Json, field: string): string {
    const value = typeof body[field] === "number" ? String(body[field]) : body[field];
    if (typeof value !== "string" || value.trim() === "") throw invalidField(field, "missing", "Field required", body[field]);
    return value;
}

/** Stores a provider's event once (see the header); a repeated delivery counts as a retry of the stored one. */
async function receiveWebhook(pool: Pool, provider: string, raw: string, headers: http.IncomingHttpHeaders): Promise<[number, Json]> {
    const secret = process.env.WEBHOOK_SECRET;
    let signatureState = "unverified";
    if (secret) {
        const expected = crypto.createHmac("sha256", secret).update(raw).digest();
        const given = Buffer.from(String(headers["x-webhook-signature"] ?? ""), "hex");
        if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) throw new HttpError(401, "X-Webhook-Signature is not the HMAC-SHA256 of the body");
        signatureState = "verified";
    }
    const body = jsonObject(raw);
    const eventId = idField(body, "event_id");
    const header = headers["idempotency-key"];
    const idempotencyKey = body.idempotency_key !== undefined ? idField(body, "idempotency_key") : typeof header === "string" && header.trim() !== "" ? header : eventId;
    const schemaVersion = body.schema_version ?? 1;
    if (!Number.isInteger(schemaVersion) || (schemaVersion as number) < 1) throw invalidField("schema_version", "greater_than_equal", "Input should be a positive integer", schemaVersion);
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
            case "POST /auth/resolve":
                return resolveUser(pool, raw);
        }
        const webhook = method === "POST" && /^\/webhooks\/([a-z0-9_-]{1,32})$/.exec(path);
        if (webhook) return receiveWebhook(pool, webhook[1], raw, req.headers);
        throw new HttpError(404, "Not Found");
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
                if (!(err instanceof HttpError)) {
                    // What uvicorn answers for an exception the app does not handle.
                    console.error(`${req.method} ${req.url}: ${err.message}`);
                    res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
                    res.end("Internal Server Error");
                    return;
                }
                [status, payload] = [err.status, { detail: err.detail }];
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
