// The first app's frontend stand-in (kifu's Next.js app): a small
// server-rendered page that calls the backend at NEXT_PUBLIC_API_BASE_URL and
// shows NEXT_PUBLIC_APP_MODE, served the way a Next.js build serves it, so
// checks/kifu.frontend.yaml reads it as it reads the real one:
//
//   GET /                                   the page; its HTML carries the build id in __NEXT_DATA__ and loads
//                                           /_next/static/<buildId>/_buildManifest.js and a page chunk
//   GET /_next/static/chunks/pages/index-<hash>.js
//                                           the chunk, with NEXT_PUBLIC_* inlined as string literals (what
//                                           `next build` does with process.env.NEXT_PUBLIC_*)
//
// The build id is the release (GATEHOUSE_RELEASE) unless DEMO_BUILD_ID says
// otherwise: set it to another value to play a stale bundle. Not the real
// frontend: one page, no React.
//
// Env: PORT (3000), NEXT_PUBLIC_API_BASE_URL, NEXT_PUBLIC_APP_MODE, GATEHOUSE_RELEASE, DEMO_BUILD_ID.
import * as crypto from "crypto";
import * as http from "http";

const port = Number(process.env.PORT ?? "3000");
const apiBase = process.env.NEXT_PUBLIC_API_BASE_URL ?? "";
const mode = process.env.NEXT_PUBLIC_APP_MODE ?? "";
const buildId = process.env.DEMO_BUILD_ID || process.env.GATEHOUSE_RELEASE || "development";

// What `next build` would emit for the page: public env inlined, content-hashed name.
const chunk = `(self.webpackChunk_N_E=self.webpackChunk_N_E||[]).push([[405],{apiBase:${JSON.stringify(apiBase)},appMode:${JSON.stringify(mode)}}]);\n`;
const chunkPath = `/_next/static/chunks/pages/index-${crypto.createHash("sha256").update(chunk).digest("hex").slice(0, 16)}.js`;
const manifestPath = `/_next/static/${buildId}/_buildManifest.js`;
const manifest = `self.__BUILD_MANIFEST={"/":[${JSON.stringify(chunkPath.slice(1))}]};self.__BUILD_MANIFEST_CB&&self.__BUILD_MANIFEST_CB();\n`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The backend's health as the page shows it: fetched server-side on every request, as getServerSideProps would. */
async function backendStatus(): Promise<string> {
    if (!apiBase) return "NEXT_PUBLIC_API_BASE_URL is not set";
    try {
        const response = await fetch(new URL("/health", apiBase), { signal: AbortSignal.timeout(2000) });
        const body = (await response.json().catch(() => ({}))) as { status?: string };
        return response.ok ? body.status ?? "answering" : `status ${response.status}`;
    } catch (err: any) {
        return `unreachable (${err?.cause?.code ?? err?.name ?? "error"})`;
    }
}

async function page(): Promise<string> {
    const data = { props: { pageProps: { backend: await backendStatus() } }, page: "/", query: {}, buildId, isFallback: false, gssp: true };
    return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>kifu</title>
<script src="${manifestPath}" defer></script><script src="${chunkPath}" defer></script></head>
<body><div id="__next"><main><h1>kifu</h1><p>mode: ${escapeHtml(mode)}</p><p>backend: ${escapeHtml(data.props.pageProps.backend)}</p></main></div>
<script id="__NEXT_DATA__" type="application/json">${JSON.stringify(data).replace(/</g, "\\u003c")}</script></body></html>\n`;
}

const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://frontend");
    const send = (status: number, type: string, body: string) => {
        res.writeHead(status, { "Content-Type": type, "Cache-Control": status === 200 && url.pathname.startsWith("/_next/static/") ? "public, max-age=31536000, immutable" : "no-store" });
        res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
    if (url.pathname === "/") return send(200, "text/html; charset=utf-8", await page());
    if (url.pathname === chunkPath) return send(200, "application/javascript", chunk);
    if (url.pathname === manifestPath) return send(200, "application/javascript", manifest);
    send(404, "text/html; charset=utf-8", "<!DOCTYPE html><title>404</title><h1>404: This page could not be found.</h1>\n");
});

server.listen(port, "127.0.0.1", () => console.log(`kifu frontend stand-in (build ${buildId}, mode ${mode || "unset"}) on http://127.0.0.1:${port}`));
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
