import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** A migration file on disk, `NNN_name.sql`. */
export interface MigrationFile {
    /**
     * The numeric prefix as written (`020`). Several files may share one (two
     * branches picked the same next number); it decides what a baseline covers,
     * not the order or the identity of a file.
     */
    version: string;
    /** The part after the prefix (`guided_review`). */
    name: string;
    /** The file name, which orders files (byte order) and keys the tracking table. */
    file: string;
    path: string;
    sha256: string;
    sql: string;
    /**
     * Declared with `-- gatehouse:no-transaction`. The runner also finds the
     * statements that cannot run in a transaction by itself (executionOf in
     * runner.ts); this flag is only the author's explicit marker.
     */
    noTransaction: boolean;
    /** Declared with `-- gatehouse:reviewed` after a person accepted its destructive operations. */
    reviewed: boolean;
}

const FILE_PATTERN = /^(\d+)_([A-Za-z0-9_.-]+)\.sql$/;
const NO_TRANSACTION = /^--\s*gatehouse:no-transaction\b/m;
const REVIEWED = /^--\s*gatehouse:reviewed\b/m;

/**
 * Lists the migration files of a directory in the order an operator's
 * `for f in *.sql; do psql -f "$f"; done` applied them: full file name, byte
 * order (a shell glob in the C locale). Shared prefixes and gaps are normal in
 * a history that grew on parallel branches. Refuses stray `.sql` files, and two
 * files that name the same migration (see sameMigration).
 */
export function readMigrationDir(dir: string): MigrationFile[] {
    if (!fs.existsSync(dir)) throw new Error(`migrations directory ${dir} does not exist`);
    const files: MigrationFile[] = [];
    const problems: string[] = [];
    for (const file of fs.readdirSync(dir).sort(compareFileNames)) {
        if (!file.endsWith(".sql")) continue;
        const match = FILE_PATTERN.exec(file);
        if (!match) {
            problems.push(`${file}: not named NNN_name.sql, and without a number no baseline can cover it; rename it, or move it out of the directory if it is not a migration`);
            continue;
        }
        const full = path.join(dir, file);
        const bytes = fs.readFileSync(full);
        const sql = bytes.toString("utf8");
        files.push({
            version: match[1],
            name: match[2],
            file,
            path: full,
            sha256: crypto.createHash("sha256").update(bytes).digest("hex"),
            sql,
            noTransaction: NO_TRANSACTION.test(sql),
            reviewed: REVIEWED.test(sql),
        });
    }
    problems.push(...sameMigrationProblems(files));
    if (problems.length > 0) throw new Error(`${dir}:\n  ${problems.join("\n  ")}`);
    return files;
}

/**
 * Two names that compare equal: the same number and the same name apart from
 * zero padding or letter case (`7_add_tags.sql`, `007_Add_Tags.sql`). Byte
 * order puts them in a definite order, but they are one migration twice: a
 * case-insensitive checkout (macOS, Windows) keeps only one of them, and
 * tracking before file names (version numbers compared as numbers) saw one.
 */
function sameMigrationProblems(files: MigrationFile[]): string[] {
    const byKey = new Map<string, MigrationFile[]>();
    for (const f of files) {
        const key = `${BigInt(f.version)}_${f.name.toLowerCase()}`;
        byKey.set(key, [...(byKey.get(key) ?? []), f]);
    }
    return [...byKey.values()]
        .filter((same) => same.length > 1)
        .map((same) => {
            const names = same.map((f) => f.file);
            return (
                `${names.join(" and ")} name the same migration (same number and name, apart from zero padding or case); ` +
                `delete the copy that is not meant, or rename one to a name of its own (a renamed applied file is recognised by its checksum)`
            );
        });
}

/** Byte order of file names, as `ls` and shell globs sort them in the C locale. */
export function compareFileNames(a: string, b: string): number {
    return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Orders versions numerically, so 100 follows 099 and 1000 follows 999. */
export function compareVersions(a: string, b: string): number {
    const diff = BigInt(a) - BigInt(b);
    return diff < 0n ? -1 : diff > 0n ? 1 : 0;
}

/**
 * One sha256 over the files a release may apply: those above the baseline, up
 * to and including `through` where given (a release step's own file), their
 * names and checksums in file-name order. The release plan computes it from
 * the deployer's copy of the app's files; the AWS runner recomputes it from its
 * image's copy and refuses to start when the two differ. Up to a step's own
 * file, so a step's command stays the same when later files are added.
 */
export function filesManifest(files: MigrationFile[], baseline?: string, through?: string): string {
    const end = through === undefined ? files.length : files.findIndex((f) => f.file === through) + 1;
    const lines = files
        .slice(0, end)
        .filter((f) => baseline === undefined || compareVersions(f.version, baseline) > 0)
        .map((f) => `${f.file} ${f.sha256}\n`)
        .join("");
    return crypto.createHash("sha256").update(lines).digest("hex");
}
