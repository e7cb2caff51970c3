// What the routine stand-in's API and worker share: env, the PostgreSQL pool
// and a Redis connection. Redis is RESP over a raw socket, the few commands the
// two send: raw rather than a client library so the stand-in adds no
// dependency to the project (it needs pipelined request/response, AUTH, SELECT
// and TLS, nothing else).
import * as net from "net";
import * as tls from "tls";
import { Pool } from "pg";

export const env = (name: string, fallback?: string): string => {
    const value = process.env[name] || fallback;
    if (value === undefined) throw new Error(`${name} is not set`);
    return value;
};

/** A positive integer from env (a count or milliseconds), or the fallback. */
export function envInt(name: string, fallback: number, min = 1): number {
    const raw = process.env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    return value;
}

/** postgresql+psycopg://… (SQLAlchemy's form, which the real app needs) -> postgresql://… (libpq's). */
export function libpqUrl(url: string): string {
    return url.replace(/^(postgres(?:ql)?)\+[A-Za-z0-9_]+:/, "$1:");
}

/** The pool on DATABASE_URL. A connection the server drops while idle must not take the process down: the next query reports it. */
export function openPool(): Pool {
    const pool = new Pool({ connectionString: libpqUrl(env("DATABASE_URL")), max: 5, connectionTimeoutMillis: 2000 });
    pool.on("error", (err) => console.error(`database: ${err.message}`));
    return pool;
}

export type Reply = string | number | null | Reply[];

const encode = (args: (string | number)[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join("")}`;

/** One reply from buf at offset: [value, next offset], or undefined while incomplete. Errors come back as Error. */
function parse(buf: Buffer, at: number): [Reply | Error, number] | undefined {
    const eol = buf.indexOf("\r\n", at);
    if (eol < 0) return undefined;
    const line = buf.toString("utf8", at + 1, eol);
    const next = eol + 2;
    switch (String.fromCharCode(buf[at])) {
        case "+":
            return [line, next];
        case "-":
            return [new Error(line), next];
        case ":":
            return [Number(line), next];
        case "$": {
            const n = Number(line);
            if (n < 0) return [null, next];
            if (buf.length < next + n + 2) return undefined;
            return [buf.toString("utf8", next, next + n), next + n + 2];
        }
        case "*": {
            const n = Number(line);
            if (n < 0) return [null, next];
            const items: Reply[] = [];
            let offset = next;
            for (let i = 0; i < n; i++) {
                const item = parse(buf, offset);
                if (!item) return undefined;
                if (item[0] instanceof Error) return [item[0], item[1]];
                items.push(item[0]);
                offset = item[1];
            }
            return [items, offset];
        }
    }
    return [new Error(`unexpected reply from Redis: ${JSON.stringify(line.slice(0, 40))}`), buf.length];
}

/**
 * A connection to the Redis of a redis:// or rediss:// URL (password, user
 * and database number from the URL). Commands are pipelined in order; a
 * request with no answer within timeoutMs fails and closes the connection.
 */
export class RedisConnection {
    private pending: { resolve(r: Reply): void; reject(e: Error): void }[] = [];
    private buffer: Buffer = Buffer.alloc(0);
    private failure?: Error;

    private constructor(private readonly socket: net.Socket) {
        socket.on("data", (d) => this.receive(d));
        socket.on("error", (err) => this.fail(err));
        socket.on("close", () => this.fail(new Error("connection to Redis closed")));
    }

    static async open(url: string, timeoutMs = 5000): Promise<RedisConnection> {
        const u = new URL(url);
        const secure = u.protocol === "rediss:";
        const port = Number(u.port || 6379);
        const socket = secure ? tls.connect({ host: u.hostname, port, servername: u.hostname }) : net.connect({ host: u.hostname, port });
        const conn = new RedisConnection(socket);
        socket.setTimeout(timeoutMs, () => {
            if (conn.pending.length || socket.connecting) socket.destroy(new Error(`no answer in ${timeoutMs} ms`));
        });
        await new Promise<void>((resolve, reject) => {
            socket.once(secure ? "secureConnect" : "connect", resolve);
            socket.once("error", reject);
            socket.once("close", () => reject(conn.failure ?? new Error("connection to Redis closed")));
        });
        if (u.password) await conn.call("AUTH", ...(u.username ? [decodeURIComponent(u.username)] : []), decodeURIComponent(u.password));
        const db = Number(u.pathname.slice(1) || 0);
        if (db) await conn.call("SELECT", db);
        return conn;
    }

    /** Sends one command; resolves with its reply, rejects with Redis's error. */
    call(...args: (string | number)[]): Promise<Reply> {
        if (this.failure) return Promise.reject(this.failure);
        return new Promise((resolve, reject) => {
            this.pending.push({ resolve, reject });
            this.socket.write(encode(args));
        });
    }

    /** Why the connection is gone (it does not reconnect), or undefined while it is up. */
    get lost(): Error | undefined {
        return this.failure;
    }

    close(): void {
        this.socket.destroy();
    }

    private receive(data: Buffer): void {
        this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : data;
        let offset = 0;
        for (let reply = parse(this.buffer, offset); reply; reply = parse(this.buffer, offset)) {
            offset = reply[1];
            const waiter = this.pending.shift();
            if (reply[0] instanceof Error) waiter?.reject(reply[0]);
            else waiter?.resolve(reply[0]);
            if (offset >= this.buffer.length) break;
        }
        this.buffer = this.buffer.subarray(offset);
    }

    private fail(err: Error): void {
        this.failure ??= err;
        for (const waiter of this.pending.splice(0)) waiter.reject(this.failure);
    }
}

/** PING on a connection of its own (AUTH and SELECT first, where the URL says so); resolves on PONG. */
export async function pingRedis(url: string, timeoutMs = 2000): Promise<void> {
    const conn = await RedisConnection.open(url, timeoutMs);
    try {
        const answer = await conn.call("PING");
        if (answer !== "PONG") throw new Error(`PING answered ${JSON.stringify(answer)}`);
    } finally {
        conn.close();
    }
}
