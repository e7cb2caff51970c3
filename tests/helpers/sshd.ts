import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { bindable } from "../../components/local/embeddedPostgres";

/** An OpenSSH server on loopback for one test run: its own host key, and one client key it accepts. */
export interface TestSshd {
    port: number;
    user: string;
    /** The client's private key (OpenSSH format), as localHostPrivateKey takes it. */
    privateKey: string;
    /** What sshd logged so far (-e: to stderr). */
    log(): string;
    stop(): void;
}

const SSHD = "/usr/sbin/sshd";

/** Where no sshd is installed: undefined (Debian: apt-get install openssh-server). */
export function sshdAvailable(): boolean {
    return fs.existsSync(SSHD);
}

/**
 * Starts Debian's sshd on 127.0.0.1 with keys generated for this run, for the
 * user running the tests. `pathForCommands` becomes the PATH of every command
 * it runs (sshd's SetEnv), as a host's own PATH would be.
 */
export async function startSshd(pathForCommands: string): Promise<TestSshd> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-sshd-"));
    for (const key of ["host_key", "client_key"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `gatehouse-test-${key}`, "-f", path.join(dir, key)]);
    fs.copyFileSync(path.join(dir, "client_key.pub"), path.join(dir, "authorized_keys"));
    const port = await freePort();
    const config = path.join(dir, "sshd_config");
    fs.writeFileSync(
        config,
        [
            `Port ${port}`,
            "ListenAddress 127.0.0.1",
            `HostKey ${path.join(dir, "host_key")}`,
            `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
            `PidFile ${path.join(dir, "sshd.pid")}`,
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            // The keys live in the test's temporary directory, whose parent (/tmp) anyone may write to.
            "StrictModes no",
            "UsePAM no",
            `SetEnv PATH=${pathForCommands}`,
            "",
        ].join("\n"),
    );
    // sshd running as root needs its privilege-separation directory.
    if (process.getuid?.() === 0) fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    let log = "";
    const child: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.on("data", (d) => (log += d));
    await listening(port, child, () => log);
    return {
        port,
        user: os.userInfo().username,
        privateKey: fs.readFileSync(path.join(dir, "client_key"), "utf8"),
        log: () => log,
        stop: () => {
            child.kill();
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

async function freePort(): Promise<number> {
    for (let attempt = 0; attempt < 100; attempt++) {
        const port = 20_000 + Math.floor(Math.random() * 12_000);
        if (await bindable(port)) return port;
    }
    throw new Error("no free port for sshd between 20000 and 32000");
}

async function listening(port: number, child: ChildProcess, log: () => string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}:\n${log()}`);
        const up = await new Promise<boolean>((resolve) => {
            const socket = net.connect(port, "127.0.0.1", () => (socket.end(), resolve(true)));
            socket.on("error", () => resolve(false));
        });
        if (up) return;
        await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`sshd did not listen on 127.0.0.1:${port} within 10 s:\n${log()}`);
}
