import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const SHIPPED_MIGRATIONS = path.join(__dirname, "..", "..", "demo", "migrations");

/** A temporary migrations directory holding exactly these files (name -> SQL). */
export function migrationDir(files: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-migrations-"));
    for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), body);
    return dir;
}

/** A temporary copy of the shipped migrations (001, 020-022) plus these files. */
export function shippedMigrationsWith(extra: Record<string, string>): string {
    const shipped = Object.fromEntries(fs.readdirSync(SHIPPED_MIGRATIONS).map((f) => [f, fs.readFileSync(path.join(SHIPPED_MIGRATIONS, f), "utf8")]));
    return migrationDir({ ...shipped, ...extra });
}
