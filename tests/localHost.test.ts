import { strict as assert } from "assert";
import { ConfigError } from "../components/config";
import { parseSshUrl } from "../components/config/validate";
import { Answer, echo, findSecretLeaks, isSecretValue, unwrapSecrets } from "./harness/mocks";
import { RunOptions, runStack } from "./harness/program";

// Where the local target's process control runs (localHost): this machine, or
// an SSH host through @pulumi/command's remote.Command. Mocks only: nothing
// connects anywhere.
describe("the local target's host", () => {
    const LOCAL = "command:local:Command";
    const REMOTE = "command:remote:Command";
    const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ngh-test-host-key-5f1c9a\n-----END OPENSSH PRIVATE KEY-----\n";
    const ON_HOST = ["kifu-deploy", "kifu-frontend-deploy", "kifu-switch", "kifu-bake", "kifu-frontend-switch", "kifu-frontend-bake", "kifu-worker", "kifu-promote"];
    const ON_DEPLOYER = ["kifu-release-snapshot", "kifu-release-rehearsal", "kifu-release-migration-001-initial_schema", "kifu-release-verify-schema"];
    const WORKER = { workerEnabled: true, localWorkerCommand: "node .gatehouse/build/demo-routine.js" };

    /** The deploy steps answer as local-app does: the slot's address on the last line. */
    const slotAddresses: Answer = (args, options) =>
        args.name.endsWith("deploy") ? { ...args.inputs, stdout: `started release local-1 on blue\nhttp://127.0.0.1:${args.name.includes("frontend") ? 8282 : 8182}` } : echo()(args, options);

    const viaSsh = (options: RunOptions = {}) =>
        runStack("local", { ...options, set: { localHost: "ssh://deploy@vm.example.com", ...WORKER, ...options.set }, secrets: { localHostPrivateKey: KEY, ...options.secrets } });

    it("without localHost, every step is a local command run from the project directory", async () => {
        const run = await runStack("local", { set: WORKER });
        assert.deepEqual(run.ofType(REMOTE), []);
        for (const name of ON_HOST) {
            const step = run.get(LOCAL, name);
            assert.match(step.inputs.create, /^node --liftoff-only \.gatehouse\/build\//, `${name} runs Gatehouse's CLI directly`);
            assert.equal(step.inputs.connection, undefined);
        }
        assert.ok(isSecretValue(run.get(LOCAL, "kifu-deploy").inputs.environment), "the slot's env is passed as the command's environment");
    });

    it("with an SSH host, the slots, edges, worker and ledger steps run there from the project checkout", async () => {
        const run = await viaSsh();
        assert.deepEqual(run.ofType(REMOTE).map((r) => r.name).sort(), [...ON_HOST].sort());
        for (const name of ON_HOST) {
            const step = run.get(REMOTE, name);
            assert.ok(isSecretValue(step.inputs.connection), `${name}'s connection is secret`);
            const { host, port, user, privateKey } = unwrapSecrets(step.inputs.connection);
            assert.deepEqual({ host, port, user, privateKey }, { host: "vm.example.com", port: 22, user: "deploy", privateKey: KEY });
            for (const phase of ["create", "update", "delete"]) {
                if (step.inputs[phase] !== undefined) assert.ok(step.inputs[phase].startsWith("cd gatehouse && "), `${name}'s ${phase}: ${step.inputs[phase]}`);
            }
        }
        assert.match(run.get(REMOTE, "kifu-switch").inputs.create, /^cd gatehouse && node --liftoff-only \.gatehouse\/build\/local-app\.js switch /);
        assert.equal(run.get(REMOTE, "kifu-deploy").inputs.delete, "cd gatehouse && eval \"$(cat)\" && node --liftoff-only .gatehouse/build/local-app.js stop --state-dir .gatehouse/local --port 8181 --health-path /health");
    });

    it("the release pipeline's own steps stay on the deployer, next to the database", async () => {
        const run = await viaSsh();
        for (const name of ON_DEPLOYER) assert.ok(!run.get(LOCAL, name).inputs.create.startsWith("cd "), name);
    });

    it("passes the env on stdin, not as SSH SetEnv requests that sshd drops unless AcceptEnv lists them", async () => {
        const run = await viaSsh();
        for (const name of ["kifu-deploy", "kifu-worker"]) {
            const step = run.get(REMOTE, name);
            assert.equal(step.inputs.environment, undefined);
            assert.ok(step.inputs.create.startsWith('cd gatehouse && eval "$(cat)" && node '), step.inputs.create);
            assert.ok(isSecretValue(step.inputs.stdin), `${name}'s stdin carries the database URL`);
            const lines = unwrapSecrets(step.inputs.stdin).trim().split("\n");
            assert.ok(lines.every((l: string) => /^export [A-Z_][A-Z0-9_]*=/.test(l)), lines.join("\n"));
            assert.ok(lines.some((l: string) => /^export DATABASE_URL=postgres(ql)?:\/\//.test(l)), lines.join("\n"));
        }
        assert.ok(unwrapSecrets(run.get(REMOTE, "kifu-deploy").inputs.stdin).includes(`\nexport JWT_SECRET=${run.stack.secretValues.JWT_SECRET}\n`));
        assert.equal(run.get(REMOTE, "kifu-switch").inputs.stdin, undefined);
    });

    it("never puts the private key or another secret in plaintext into any input", async () => {
        const run = await viaSsh();
        assert.deepEqual(findSecretLeaks(run.registrations, { ...run.stack.secretValues, localHostPrivateKey: KEY }), []);
    });

    it("gates the slots at the SSH host's name instead of its loopback address", async () => {
        const run = await viaSsh({ answer: slotAddresses });
        assert.equal(run.get("pulumi-nodejs:dynamic/gatehouse:HealthGate", "kifu-release-gate").inputs.baseUrl, "http://vm.example.com:8182");
        assert.equal(run.get("pulumi-nodejs:dynamic/gatehouse:HealthGate", "kifu-frontend-gate").inputs.baseUrl, "http://vm.example.com:8282");
        const local = await runStack("local", { answer: slotAddresses });
        assert.equal(local.get("pulumi-nodejs:dynamic/gatehouse:HealthGate", "kifu-release-gate").inputs.baseUrl, "http://127.0.0.1:8182");
    });

    it("takes the port and the checkout's directory from config", async () => {
        const run = await viaSsh({ set: { localHost: "ssh://ops@10.0.0.5:2222", localHostProjectDir: "/srv/gatehouse" } });
        const { host, port, user } = unwrapSecrets(run.get(REMOTE, "kifu-switch").inputs.connection);
        assert.deepEqual({ host, port, user }, { host: "10.0.0.5", port: 2222, user: "ops" });
        assert.ok(run.get(REMOTE, "kifu-switch").inputs.create.startsWith("cd /srv/gatehouse && node "));
    });

    describe("config", () => {
        async function problemsOf(options: RunOptions) {
            try {
                await runStack("local", options);
            } catch (err) {
                if (err instanceof ConfigError) return err;
                throw err;
            }
            throw new Error("the program accepted the configuration");
        }

        it("refuses a localHost that is not ssh://user@host[:port]", async () => {
            const err = await problemsOf({ set: { localHost: "deploy@vm.example.com" }, secrets: { localHostPrivateKey: KEY } });
            assert.deepEqual(err.problems, [
                {
                    key: "localHost",
                    problem: 'must be ssh://user@host[:port] (or empty for this machine), got "deploy@vm.example.com"',
                    fix: "pulumi config set --stack local localHost 'ssh://<user>@<host>'",
                },
            ]);
        });

        it("refuses an SSH host without its private key", async () => {
            const err = await problemsOf({ set: { localHost: "ssh://deploy@vm.example.com" } });
            assert.deepEqual(err.problems, [
                {
                    key: "localHostPrivateKey",
                    problem: "is required when localHost is set (the SSH key for ssh://deploy@vm.example.com)",
                    fix: "pulumi config set --stack local --secret localHostPrivateKey < <private key file>",
                },
            ]);
        });

        it("refuses a private key stored in plaintext, without printing it", async () => {
            const err = await problemsOf({ set: { localHost: "ssh://deploy@vm.example.com" }, plaintext: { localHostPrivateKey: KEY } });
            assert.deepEqual(err.problems, [
                {
                    key: "localHostPrivateKey",
                    problem: "is an SSH private key stored in plaintext; set it as a secret",
                    fix: "pulumi config set --stack local --secret localHostPrivateKey < <private key file>",
                },
            ]);
            assert.ok(!err.message.includes("gh-test-host-key"));
        });

        it("reads ssh://user@host[:port] and nothing else", () => {
            assert.deepEqual(parseSshUrl("ssh://deploy@vm.example.com"), { user: "deploy", hostname: "vm.example.com", port: 22 });
            assert.deepEqual(parseSshUrl("ssh://deploy@[::1]:2200"), { user: "deploy", hostname: "::1", port: 2200 });
            for (const bad of ["ssh://vm.example.com", "ssh://deploy:pw@vm.example.com", "ssh://deploy@vm.example.com/srv", "http://deploy@vm.example.com", "vm.example.com", "ssh://deploy@"]) {
                assert.equal(parseSshUrl(bad), undefined, bad);
            }
        });
    });
});
