// How the gate talks to the app: the request a check describes, the answer
// read with a size cap (and, for a page, the scripts it loads), and the
// internet probe. Node built-ins only (fetch, FormData, Blob, AbortSignal,
// URL): the gate runs inside the serialized dynamic provider.
import type { GateCheck } from "./gateSchema";
import { substitute, substituteDeep } from "./gateVars";

export const MAX_BODY_BYTES = 1_000_000;

/** What the app answered: a status and body, or why there was none (error); the status may come with an error (a script that failed). */
export interface Answer {
    status?: number;
    text: string;
    error?: string;
    latencyMs: number;
}

/** Sends the check's request and reads the answer; never throws. */
export async function fetchAnswer(baseUrl: string, check: GateCheck, commonHeaders: Record<string, string>, vars: Record<string, string>, timeoutMs: number): Promise<Answer> {
    const t0 = Date.now();
    let status: number | undefined;
    let text = "";
    try {
        const { url, init } = buildRequest(baseUrl, check, commonHeaders, vars);
        const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
        status = response.status;
        text = await readCapped(response, MAX_BODY_BYTES);
        if (check.request.withScripts) text += await sameOriginScripts(url, text, timeoutMs - (Date.now() - t0));
    } catch (err: any) {
        const reason = err?.name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : describeFetchError(err);
        return { status, text, error: reason, latencyMs: Date.now() - t0 };
    }
    return { status, text, latencyMs: Date.now() - t0 };
}

/** The request a check describes: JSON (an object body), text (a string body) or multipart form data. */
function buildRequest(baseUrl: string, check: GateCheck, commonHeaders: Record<string, string>, vars: Record<string, string>): { url: URL; init: RequestInit } {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...commonHeaders, ...(check.request.headers ?? {}) })) headers[k] = substitute(v, vars);
    const hasContentType = Object.keys(headers).some((h) => h.toLowerCase() === "content-type");
    let body: string | FormData | undefined;
    if (check.request.multipart !== undefined) {
        // fetch writes the multipart boundary into Content-Type itself.
        body = new FormData();
        for (const [field, value] of Object.entries(check.request.multipart)) {
            if (typeof value === "string") body.append(field, substitute(value, vars));
            else body.append(field, new Blob([substitute(value.content, vars)], { type: value.contentType ?? "application/octet-stream" }), value.filename);
        }
    } else if (check.request.body !== undefined) {
        const filled = substituteDeep(check.request.body, vars);
        body = typeof filled === "string" ? filled : JSON.stringify(filled);
        if (typeof filled !== "string" && !hasContentType) headers["Content-Type"] = "application/json";
    }
    return { url: new URL(substitute(check.request.path, vars), baseUrl), init: { method: check.request.method ?? "GET", headers, body } };
}

/**
 * The text of every same-origin script a page loads (`<script src>`), each
 * prefixed by a newline, at most 50 of them and MAX_BODY_BYTES each. A Next.js
 * build writes NEXT_PUBLIC_* values and its build id into these files, so a
 * page check can see which build and which settings the browser would get.
 */
async function sameOriginScripts(page: URL, html: string, timeoutMs: number): Promise<string> {
    const sources = [...html.matchAll(/<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']/gi)].map((m) => new URL(m[1].replace(/&amp;/g, "&"), page));
    let text = "";
    for (const src of sources.filter((u) => u.origin === page.origin).slice(0, 50)) {
        const response = await fetch(src, { signal: AbortSignal.timeout(Math.max(1, timeoutMs)), redirect: "manual" });
        if (response.status !== 200) {
            await response.body?.cancel();
            throw new Error(`script ${src.pathname} answered ${response.status}`);
        }
        text += `\n${await readCapped(response, MAX_BODY_BYTES)}`;
    }
    return text;
}

/** Reads at most `limit` bytes of a body: a huge answer cannot exhaust the gate's memory. */
async function readCapped(response: Response, limit: number): Promise<string> {
    if (!response.body) return "";
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        size += value.byteLength;
        if (size >= limit) {
            await reader.cancel();
            break;
        }
    }
    return Buffer.concat(chunks).subarray(0, limit).toString("utf8");
}

/** Whether this machine reaches the internet: any HTTP answer from the probe says yes. */
export async function probeInternet(url: string, online: boolean | undefined): Promise<{ ok: boolean; detail: string }> {
    if (online !== undefined) return { ok: online, detail: online ? "" : "the gate was told it is offline" };
    if (process.env.GATEHOUSE_OFFLINE === "1") return { ok: false, detail: "GATEHOUSE_OFFLINE=1" };
    try {
        const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(3000), redirect: "manual" });
        await response.body?.cancel();
        return { ok: true, detail: "" };
    } catch (err: any) {
        const reason = err?.name === "TimeoutError" ? "no answer in 3 s" : describeFetchError(err);
        return { ok: false, detail: `probe ${url}: ${reason}` };
    }
}

function describeFetchError(err: any): string {
    const cause = err?.cause;
    if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ""}`;
    // fetch's own refusals (a bad port, a URL with credentials) carry the reason in the cause only.
    if (cause?.message) return `${err.message}: ${cause.message}`;
    return String(err?.message ?? err);
}
