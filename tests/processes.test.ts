import { strict as assert } from "assert";
import { spawn } from "child_process";
import { alive } from "../components/local/processes";

describe("process liveness", () => {
    it("an exited process its parent has not reaped (a zombie) is not alive, though signal 0 still reaches it", async function () {
        if (process.platform !== "linux") this.skip();
        // `sleep 0.1` ends under a parent that never waits for it (the shell became `sleep 5`):
        // it stays a zombie, as local-app's slots do under an init that reaps late.
        const parent = spawn("/bin/sh", ["-c", "sleep 0.1 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] });
        try {
            const pid = Number(await new Promise<string>((resolve) => parent.stdout!.once("data", (d) => resolve(String(d).trim()))));
            assert.equal(alive(pid), true, "running");
            await new Promise((r) => setTimeout(r, 400));
            assert.doesNotThrow(() => process.kill(pid, 0), "the zombie still answers signal 0");
            assert.equal(alive(pid), false, "exited, not yet reaped");
            assert.equal(alive(parent.pid!), true);
        } finally {
            parent.kill("SIGKILL");
        }
    });

    it("no process, or a number that names a process group, is not alive", () => {
        assert.equal(alive(0), false);
        assert.equal(alive(-1), false);
        assert.equal(alive(2 ** 22 + 1), false);
    });
});
