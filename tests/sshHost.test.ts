import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Engine } from "../scripts/lib/engine";
import { REPO_ROOT } from "./harness/stackConfig";
import { EngineStack, UpResult, engineOrSkip } from "./helpers/engine";
import { freeStackPorts, localPorts, stopLocalStack } from "./helpers/ports";
import { getJson } from "./helpers/http";
import { freshDatabase } from "./helpers/postgres";
import { TestSshd, sshdAvailable, startSshd } from "./helpers/sshd";

// The local target on a host over SSH (localHost: ssh://...): Pulumi's command
// provider runs the slots', edges' and ledger's steps as command:remote:Command
// under the real engine, against an sshd this test starts on loopback with a
// key generated for the run. The host is this machine, reached only through
// sshd: the project directory is this checkout, PATH the one sshd gives.
describe("the local target on an SSH host, under the real engine", function () {
    this.timeout(300_000);
    const ON_HOST = ["kifu-bake", "kifu-deploy", "kifu-frontend-bake", "kifu-frontend-deploy", "kifu-frontend-switch", "kifu-promote", "kifu-switch"];
    let engine: Engine;
    let sshd: TestSshd;
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let stack: EngineStack;
    let port: number;
    let stateDir: string;
    const jwt = `gh-test-jwt-${crypto.randomBytes(6).toString("hex")}`;

    before(async function () {
        this.timeout(1_200_000);
        engine = await engineOrSkip(this);
        if (!sshdAvailable()) {
            if (process.env.CI === "true") assert.fail("no /usr/sbin/sshd: .ci/run installs openssh-server");
            console.log("      skipped: no /usr/sbin/sshd (Debian: apt-get install openssh-server)");
            return this.skip();
        }
        // The host's PATH: the Node.js these tests run on first, as a host with Node 22 installed has it.
        sshd = await startSshd(`${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`);
        db = await freshDatabase("ssh");
        port = await freeStackPorts();
        const name = `ssh-${crypto.randomBytes(3).toString("hex")}`;
        stateDir = path.join(REPO_ROOT, ".gatehouse", name);
        stack = await EngineStack.create(engine, {
            name,
            from: "local",
            set: { release: "r1", ...localPorts(port), bakeSeconds: 1, localHost: `ssh://${sshd.user}@127.0.0.1:${sshd.port}`, localHostProjectDir: REPO_ROOT },
            secrets: { JWT_SECRET: jwt, localDatabaseUrl: db.url, localHostPrivateKey: sshd.privateKey },
        });
    });
    after(async () => {
        if (stack) {
            stopLocalStack(path.relative(REPO_ROOT, stateDir), REPO_ROOT);
            await stack.remove();
            fs.rmSync(stateDir, { recursive: true, force: true });
        }
        await db?.drop();
        sshd?.stop();
    });

    const ok = (r: UpResult) => assert.equal(r.error, undefined, `the update failed:\n${r.error?.message}\n${r.output.slice(-3000)}\nsshd:\n${sshd.log().slice(-2000)}`);
    const remote = (r: UpResult) => Object.keys(r.ops).filter((k) => k.startsWith("command:remote:Command::")).map((k) => k.split("::")[1]).sort();
    const sessions = () => (sshd.log().match(new RegExp(`Accepted publickey for ${sshd.user} from 127\\.0\\.0\\.1`, "g")) ?? []).length;
    const slot = (color: string) => JSON.parse(fs.readFileSync(path.join(stateDir, `slot-${color}.json`), "utf8")) as { release: string; pid: number };

    it("release 1: the slots, edges and ledger steps run through sshd; the app gets its secrets; users get r1", async () => {
        const r = await stack.up();
        ok(r);
        assert.deepEqual(remote(r), ON_HOST);
        assert.ok(Object.values(r.ops).every((op) => op === "create"));
        assert.ok(sessions() >= ON_HOST.length, `sshd accepted ${sessions()} sessions for ${ON_HOST.length} commands:\n${sshd.log()}`);
        const answer = await getJson(`http://127.0.0.1:${port}/health`);
        assert.equal(answer.body.release, "r1");
        assert.equal(answer.headers["x-gatehouse-slot"], "blue");
        // The env went over SSH on the command's stdin (not SetEnv, which sshd drops): the app has it.
        const environ = fs.readFileSync(`/proc/${slot("blue").pid}/environ`, "utf8").split("\0");
        assert.ok(environ.includes(`JWT_SECRET=${jwt}`), "the slot got JWT_SECRET");
        assert.ok(environ.some((e) => e.startsWith("DATABASE_URL=postgres")), "the slot got DATABASE_URL");
        const state = stack.storedState();
        assert.ok(state.includes("command:remote:Command"), "the stored state was read");
        assert.ok(!state.includes(sshd.privateKey.split("\n")[1]), "the private key is not in the state in plaintext");
        assert.ok(!state.includes(jwt), "JWT_SECRET is not in the state in plaintext");
    });

    it("release 2: deployed and switched over SSH; users get r2, release 1 stays as standby", async () => {
        const before = sessions();
        await stack.set({ release: "r2" });
        const r = await stack.up();
        ok(r);
        assert.ok(sessions() > before, "the release went through sshd");
        const answer = await getJson(`http://127.0.0.1:${port}/health`);
        assert.equal(answer.body.release, "r2");
        assert.equal(answer.headers["x-gatehouse-slot"], "green");
        assert.equal(slot("blue").release, "r1");
    });

    it("destroy: the delete commands run over SSH and stop the app", async () => {
        const before = sessions();
        const ops = await stack.destroy();
        assert.ok(Object.entries(ops).some(([k, op]) => k.startsWith("command:remote:Command::") && op === "delete"));
        assert.ok(sessions() > before, "the stops went through sshd");
        await assert.rejects(getJson(`http://127.0.0.1:${port}/health`), /ECONNREFUSED/);
    });
});
