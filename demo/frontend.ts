// The first app's frontend stand-in (kifu's Next.js app), served the way its
// real build is (Next.js 16, App Router; what `next build` and `next start`
// answered for kifu's frontend/), so checks/kifu.frontend.yaml reads it as it
// reads the real one:
//
//   GET /        the landing page. Its HTML carries the build id once, in the
//                RSC payload (self.__next_f.push([1,"0:{\"P\":null,\"b\":\"<id>\",...),
//                and loads scripts that contain neither the API base URL nor the mode.
//   GET /login   loads the chunk with NEXT_PUBLIC_API_BASE_URL inlined as given,
//                ("<url>".trim()||"http://127.0.0.1:8080/api") (frontend/src/lib/api.ts)
//   GET /chart   loads that chunk and the one with NEXT_PUBLIC_APP_MODE inlined as
//                "<mode>".trim().toLowerCase() (frontend/src/lib/appMode.ts); the
//                literals "prod" and "demo" are in it whatever the mode
//   GET /_next/static/chunks/<hash>.js   the chunks (content-hashed names)
//
// The build id is the release (GATEHOUSE_RELEASE) unless DEMO_BUILD_ID says
// otherwise: set it to another value to play a stale bundle. Not the real
// frontend: three pages, no React. The landing page also shows the backend's
// health, fetched server-side, for a person looking at the local stack.
//
// Env: PORT (3000), NEXT_PUBLIC_API_BASE_URL, NEXT_PUBLIC_APP_MODE, GATEHOUSE_RELEASE, DEMO_BUILD_ID.
import * as crypto from "crypto";
import * as http from "http";

const port = Number(process.env.PORT ?? "3000");
const apiBase = process.env.NEXT_PUBLIC_API_BASE_URL ?? "";
const mode = process.env.NEXT_PUBLIC_APP_MODE ?? "";
const buildId = process.env.DEMO_BUILD_ID || process.env.GATEHOUSE_RELEASE || "development";

// What `next build` leaves of `process.env.NEXT_PUBLIC_API_BASE_URL?.trim()` and of
// `(process.env.NEXT_PUBLIC_APP_MODE || 'prod').trim()` once it inlined the values and minified.
const apiExpression = apiBase === "" ? "(void 0)?.trim()" : `${JSON.stringify(apiBase)}.trim()`;
const modeExpression = `${JSON.stringify(mode || "prod")}.trim()`;

// The chunks, minified as the real build's are, each under its content hash.
const chunks = {
    runtime: `(globalThis.TURBOPACK||(globalThis.TURBOPACK=[])).push(["static/chunks/turbopack.js",{otherChunks:[],runtimeModuleIds:[]}]);\n`,
    landing: `(globalThis.TURBOPACK||(globalThis.TURBOPACK=[])).push(["static/chunks/landing.js",1,e=>{e.s({LandingPage:()=>"kifu"})}]);\n`,
    api: `(globalThis.TURBOPACK||(globalThis.TURBOPACK=[])).push(["static/chunks/api.js",2,t=>{let ts="http://127.0.0.1:8080/api",ta=(e=>{try{return new URL(e).toString().replace(/\\/+$/,"")}catch{return ts}})(${apiExpression}||ts);t.s({baseURL:()=>ta})}]);\n`,
    mode: `(globalThis.TURBOPACK||(globalThis.TURBOPACK=[])).push(["static/chunks/mode.js",3,t=>{let s9=${modeExpression}.toLowerCase(),lt="demo"===s9?"demo":"prod";t.s({APP_MODE:()=>lt})}]);\n`,
};
const chunkPath = Object.fromEntries(
    Object.entries(chunks).map(([name, text]) => [name, `/_next/static/chunks/${crypto.createHash("sha256").update(text).digest("hex").slice(0, 16)}.js`]),
) as Record<keyof typeof chunks, string>;
const byPath = new Map(Object.entries(chunkPath).map(([name, p]) => [p, chunks[name as keyof typeof chunks]]));

// Which chunks each page loads, as in the real build: / neither value, /login the API's, /chart both.
const PAGES: Record<string, (keyof typeof chunks)[]> = {
    "/": ["runtime", "landing"],
    "/login": ["runtime", "api"],
    "/chart": ["runtime", "api", "mode"],
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The backend's health as the landing page shows it: fetched server-side on every request. */
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

async function page(path: string): Promise<string> {
    const scripts = PAGES[path].map((c) => `<script src="${chunkPath[c]}" async=""></script>`).join("");
    // The RSC payload's first line, as Next writes it into every page: the build id under "b", JSON inside a JS string.
    const rsc = JSON.stringify(`0:${JSON.stringify({ P: null, b: buildId, c: ["", path.slice(1)], q: "", i: false })}\n`);
    const body = path === "/" ? `<h1>kifu</h1><p>backend: ${escapeHtml(await backendStatus())}</p>` : `<h1>kifu ${escapeHtml(path.slice(1))}</h1>`;
    return `<!DOCTYPE html><html lang="ko"><head><meta charSet="utf-8"/><title>kifu</title>${scripts}</head>
<body><main>${body}</main><script>(self.__next_f=self.__next_f||[]).push([0])</script><script>self.__next_f.push([1,${rsc.replace(/</g, "\\u003c")}])</script></body></html>\n`;
}

const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://frontend");
    const send = (status: number, type: string, body: string) => {
        res.writeHead(status, { "Content-Type": type, "Cache-Control": status === 200 && url.pathname.startsWith("/_next/static/") ? "public, max-age=31536000, immutable" : "no-store" });
        res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
    if (url.pathname in PAGES) return send(200, "text/html; charset=utf-8", await page(url.pathname));
    const chunk = byPath.get(url.pathname);
    if (chunk !== undefined) return send(200, "application/javascript; charset=utf-8", chunk);
    send(404, "text/html; charset=utf-8", "<!DOCTYPE html><title>404</title><h1>404: This page could not be found.</h1>\n");
});

server.listen(port, "127.0.0.1", () => console.log(`kifu frontend stand-in (build ${buildId}, mode ${mode || "unset"}) on http://127.0.0.1:${port}`));
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
