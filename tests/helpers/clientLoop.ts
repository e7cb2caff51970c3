import * as http from "http";

export interface LoopAnswer {
    url: string;
    status: number | undefined;
    /** x-gatehouse-release: the release that answered. */
    release: string | undefined;
    error?: string;
    /** performance.now() when the answer (or the error) arrived. */
    at: number;
}

/**
 * Users, played by a loop: keeps requesting each URL (one after the other,
 * without pause) until stopped, and keeps every answer, so a test can say
 * whether any request failed and which releases answered while it ran.
 * Plain http with a fresh connection per request, as a browser's new visitor.
 */
export class ClientLoop {
    readonly answers: LoopAnswer[] = [];
    private running = true;
    private readonly done: Promise<void>;

    /** pauseMs: a pause after each answer, so the loop leaves the machine's cores to what it watches. */
    constructor(urls: string[], private readonly options: { pauseMs?: number } = {}) {
        this.done = Promise.all(urls.map((url) => this.loop(url))).then(() => undefined);
    }

    private async loop(url: string): Promise<void> {
        while (this.running) {
            this.answers.push(await once(url));
            if (this.options.pauseMs) await new Promise((r) => setTimeout(r, this.options.pauseMs));
        }
    }

    async stop(): Promise<LoopAnswer[]> {
        this.running = false;
        await this.done;
        return this.answers;
    }

    failed(): LoopAnswer[] {
        return this.answers.filter((a) => a.error !== undefined || a.status !== 200);
    }

    releases(): string[] {
        return [...new Set(this.answers.map((a) => a.release ?? "(none)"))].sort();
    }
}

function once(url: string): Promise<LoopAnswer> {
    return new Promise((resolve) => {
        const req = http.get(url, { agent: false, timeout: 10_000 }, (res) => {
            res.resume();
            res.on("end", () => resolve({ url, status: res.statusCode, release: res.headers["x-gatehouse-release"] as string | undefined, at: performance.now() }));
        });
        req.on("timeout", () => req.destroy(new Error("no answer in 10 s")));
        req.on("error", (err: any) => resolve({ url, status: undefined, release: undefined, error: err.code ?? err.message, at: performance.now() }));
    });
}
