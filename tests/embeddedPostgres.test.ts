import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { refuseWhatPostgresCannotReach } from "../components/local/embeddedPostgres";

// As root the embedded PostgreSQL runs as the system user postgres, which must
// pass through every directory above its binaries and its data: a checkout in
// a directory only root may enter ended in a raw `spawn .../initdb EACCES`.
describe("the embedded PostgreSQL's reach, as root", () => {
    it("names the directory the postgres user cannot enter and the fixes, in one error", () => {
        const base = fs.mkdtempSync(path.join(os.tmpdir(), "gh-pgreach-"));
        fs.chmodSync(base, 0o755); // mkdtemp makes it 0700
        const closed = path.join(base, "home");
        const data = path.join(closed, "gatehouse", ".gatehouse", "local", "pg");
        fs.mkdirSync(path.dirname(data), { recursive: true });
        fs.chmodSync(closed, 0o700);
        try {
            assert.throws(() => refuseWhatPostgresCannotReach([data]), (err: Error) => {
                assert.match(err.message, new RegExp(`runs as the system user postgres \\(PostgreSQL refuses to run as root\\), which cannot enter ${closed} \\(mode 0700\\), on the way to ${data}`));
                assert.match(err.message, new RegExp(`fix: put the checkout where other users may enter \\(e\\.g\\. /srv or /opt\\), or let them pass through with \`chmod o\\+x ${closed}\`, or give the stack a PostgreSQL of your own`));
                return true;
            });
            fs.chmodSync(closed, 0o711);
            assert.doesNotThrow(() => refuseWhatPostgresCannotReach([data]), "o+x is enough to pass through");
        } finally {
            fs.rmSync(base, { recursive: true, force: true });
        }
    });
});
