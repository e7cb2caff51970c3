import * as http from "http";

/** A GET whose answer is JSON, as a user of the edge gets it. */
export function getJson(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }> {
    return new Promise((resolve, reject) => {
        // agent: false, a connection per request: a pooled one may be closed by the server's keep-alive timeout as it is reused.
        http.get(url, { agent: false }, (res) => {
            let text = "";
            res.on("data", (d) => (text += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }));
        }).on("error", reject);
    });
}
