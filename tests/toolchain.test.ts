import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Engine, provideEngine } from "../scripts/lib/engine";
import { REPO_ROOT } from "./harness/stackConfig";
import { engineOrSkip } from "./helpers/engine";
import { programsThatRan, sha256, sumsOf } from "./helpers/engineProbe";

// scripts/pulumi-toolchain.sh provides Pulumi's own programs, none of ours:
// which source it takes, what it refuses, and that the engine then runs
// exactly the language host and command provider it reports.
describe("the engine toolchain (scripts/pulumi-toolchain.sh)", function () {
    this.timeout(300_000);
    const SCRIPT = path.join(REPO_ROOT, "scripts", "pulumi-toolchain.sh");
    const COMMAND_VERSION = "1.2.1";
    let engine: Engine;
    let scratch: string;

    before(async function () {
        this.timeout(1_200_000);
        engine = await engineOrSkip(this);
    });
    beforeEach(() => (scratch = fs.mkdtempSync(path.join(os.tmpdir(), "gh-toolchain-"))));
    afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

    /** Pulumi's plugin binaries with their SHA256SUMS, as GATEHOUSE_PULUMI_PLUGINS names them. */
    const pluginsDir = (context: Mocha.Context): string => {
        const dir = process.env.GATEHOUSE_PULUMI_PLUGINS;
        if (dir && fs.existsSync(path.join(dir, "SHA256SUMS"))) return dir;
        if (process.env.CI === "true") assert.fail("GATEHOUSE_PULUMI_PLUGINS names no directory with SHA256SUMS (.ci/run sets it to ../shared/pulumi-plugins)");
        console.log("      skipped: GATEHOUSE_PULUMI_PLUGINS is not set (a directory of Pulumi's plugin binaries with SHA256SUMS)");
        context.skip();
        throw new Error("not reached");
    };
    /** The script's environment: nothing inherited but what it is given, no network, its own caches. */
    const envWith = (extra: Record<string, string>): Record<string, string> => ({
        PATH: `${path.dirname(process.execPath)}:/usr/local/go/bin:/usr/bin:/bin`,
        HOME: scratch,
        GATEHOUSE_TOOLCHAIN_CACHE: path.join(scratch, "cache"),
        PULUMI_HOME: path.join(scratch, "pulumi-home"),
        GATEHOUSE_TOOLCHAIN_OFFICIAL: "0",
        ...extra,
    });
    const run = (env: Record<string, string>) => spawnSync(SCRIPT, [], { cwd: REPO_ROOT, env, encoding: "utf8" });
    /** A copy of the provided distribution in a directory whose name is not `bin`. */
    const distributionNamed = (name: string): string => {
        const dir = path.join(scratch, name);
        fs.mkdirSync(dir);
        for (const f of ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs", "pulumi-analyzer-policy"]) fs.copyFileSync(path.join(engine.binDir, f), path.join(dir, f));
        for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o755);
        return dir;
    };
    const installedCommand = (pulumiHome: string) => path.join(pulumiHome, "plugins", `resource-command-v${COMMAND_VERSION}`, "pulumi-resource-command");

    it("the engine runs Pulumi's language host and command provider, the ones the toolchain reports", async () => {
        const ran = await programsThatRan(engine);
        console.log(`      ran: language host ${ran.languageHost} (sha256 ${sha256(ran.languageHost).slice(0, 16)}), command provider ${ran.commandProvider} (sha256 ${sha256(ran.commandProvider).slice(0, 16)})`);
        assert.equal(ran.languageHost, fs.realpathSync(path.join(engine.binDir, "pulumi-language-nodejs")));
        assert.equal(ran.commandProvider, installedCommand(process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi")));
        const version = spawnSync(ran.languageHost, ["--version"], { encoding: "utf8" }).stdout.trim();
        assert.match(version, /^v3\.\d+\.\d+$/);
        const dir = process.env.GATEHOUSE_PULUMI_PLUGINS;
        if (dir && fs.existsSync(path.join(dir, "SHA256SUMS"))) {
            const sums = sumsOf(dir);
            assert.equal(sha256(ran.languageHost), sums["pulumi-language-nodejs"], "the language host is the one of GATEHOUSE_PULUMI_PLUGINS");
            assert.equal(sha256(ran.commandProvider), sums["pulumi-resource-command"], "the command provider is the one of GATEHOUSE_PULUMI_PLUGINS");
        }
    });

    it("takes a distribution on PATH from a directory of any name, installs the command provider into the plugin cache, and the engine runs the host beside that CLI", async function () {
        const plugins = pluginsDir(this);
        const dist = distributionNamed("pulumi-3.274-unpacked");
        const env = envWith({ PATH: `${dist}:${envWith({}).PATH}`, GATEHOUSE_PULUMI_PLUGINS: plugins });
        const result = run(env);
        assert.equal(result.status, 0, result.stderr);
        assert.equal(result.stdout.trim().split("\n").pop(), dist);
        assert.match(result.stderr, new RegExp(`engine: CLI v3\\.274\\.1 on PATH \\(${dist}/pulumi\\); Node\\.js language host v3\\.\\d+\\.\\d+ beside it; command provider v${COMMAND_VERSION} from GATEHOUSE_PULUMI_PLUGINS=`));
        assert.equal(sha256(installedCommand(env.PULUMI_HOME)), sumsOf(plugins)["pulumi-resource-command"]);

        const fromPath = await provideEngine({ quiet: true, env });
        assert.equal(fromPath.binDir, dist);
        const ran = await programsThatRan(fromPath, { PULUMI_HOME: env.PULUMI_HOME, GATEHOUSE_TOOLCHAIN_CACHE: env.GATEHOUSE_TOOLCHAIN_CACHE });
        assert.equal(ran.languageHost, path.join(dist, "pulumi-language-nodejs"));
        assert.equal(ran.commandProvider, installedCommand(env.PULUMI_HOME));
    });

    it("does not take a pulumi-resource-command on PATH for the plugin the engine loads (it reads the plugin cache only)", () => {
        const dist = distributionNamed("dist");
        fs.copyFileSync(installedCommand(process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi")), path.join(dist, "pulumi-resource-command"));
        const result = run(envWith({ PATH: `${dist}:${envWith({}).PATH}` }));
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /pulumi-toolchain: Pulumi's command provider v1\.2\.1 could not be provided; tried:/);
        assert.match(result.stderr, new RegExp(`- plugin cache: no ${scratch}/pulumi-home/plugins/resource-command-v1\\.2\\.1/pulumi-resource-command`));
        assert.match(result.stderr, /- GATEHOUSE_PULUMI_PLUGINS is not set/);
        assert.match(result.stderr, /fix: put a Pulumi distribution on PATH .* and run 'pulumi plugin install resource command 1\.2\.1'/);
    });

    it("replaces a command provider in the plugin cache that is not Pulumi's v1.2.1 (the former stand-in answered no schema)", function () {
        const plugins = pluginsDir(this);
        const pulumiHome = path.join(scratch, "pulumi-home");
        fs.mkdirSync(path.dirname(installedCommand(pulumiHome)), { recursive: true });
        fs.writeFileSync(installedCommand(pulumiHome), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
        const result = run(envWith({ PATH: `${engine.binDir}:${envWith({}).PATH}`, GATEHOUSE_PULUMI_PLUGINS: plugins }));
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stderr, /is not Pulumi's command provider v1\.2\.1 \(Gatehouse's former stand-in\?\): replacing it/);
        assert.equal(sha256(installedCommand(pulumiHome)), sumsOf(plugins)["pulumi-resource-command"]);
    });

    it("takes a script named pulumi (Gatehouse's former wrapper) for no distribution", () => {
        const dir = path.join(scratch, "wrapper");
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, "pulumi"), "#!/bin/sh\n# Gatehouse: the Pulumi CLI v3.274.1 without update checks\nexec true\n", { mode: 0o755 });
        const result = run(envWith({ PATH: `${dir}:${envWith({}).PATH}` }));
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, new RegExp(`- PATH: ${dir}/pulumi is a script, not Pulumi's CLI`));
    });

    it("refuses a plugin directory whose file does not match its SHA256SUMS, before building anything", function () {
        const plugins = pluginsDir(this);
        const tampered = path.join(scratch, "plugins");
        fs.mkdirSync(tampered);
        fs.copyFileSync(path.join(plugins, "pulumi-language-nodejs"), path.join(tampered, "pulumi-language-nodejs"));
        fs.appendFileSync(path.join(tampered, "pulumi-language-nodejs"), "changed");
        fs.copyFileSync(path.join(plugins, "SHA256SUMS"), path.join(tampered, "SHA256SUMS"));
        const result = run(envWith({ GATEHOUSE_TOOLCHAIN_FROM_PATH: "0", GATEHOUSE_PULUMI_PLUGINS: tampered }));
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /Pulumi's Node\.js language host could not be provided; tried:/);
        assert.match(result.stderr, new RegExp(`${tampered}/pulumi-language-nodejs has sha256 [0-9a-f]{64}, SHA256SUMS says ${sumsOf(plugins)["pulumi-language-nodejs"]}`));
        assert.doesNotMatch(result.stderr, /building the Pulumi CLI/);
    });

    it("without Go, says so and how to get it (after the plugins are found)", function () {
        const plugins = pluginsDir(this);
        const result = run(envWith({ PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, GATEHOUSE_TOOLCHAIN_FROM_PATH: "0", GATEHOUSE_PULUMI_PLUGINS: plugins }));
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /pulumi-toolchain: no Go toolchain: the Pulumi CLI is built with Go 1\.26 from the Go module proxy/);
        assert.match(result.stderr, /fix: install Go 1\.26/);
    });

    it("answers --help with exit 0 and an unknown argument with exit 2", () => {
        const help = spawnSync(SCRIPT, ["--help"], { encoding: "utf8" });
        assert.equal(help.status, 0);
        assert.match(help.stdout, /GATEHOUSE_PULUMI_PLUGINS/);
        const bad = spawnSync(SCRIPT, ["--frobnicate"], { encoding: "utf8" });
        assert.equal(bad.status, 2);
        assert.match(bad.stderr, /unknown argument '--frobnicate'/);
    });
});
