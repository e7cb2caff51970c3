import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { localProject } from "../scripts/lib/engine";

// The local stack's own stack file (.gatehouse/project) follows the repo's
// Pulumi.<stack>.yaml in three ways: what the repo changed is taken where the
// stack still had the repo's earlier value; what the stack changed is kept.
describe("the local stack file, merged with the repo's", () => {
    const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), "gh-project-"));
    const read = (d: string) => YAML.parse(fs.readFileSync(path.join(d, "Pulumi.local.yaml"), "utf8")).config;
    const edit = (file: string, key: string, value: unknown) => {
        const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
        doc.setIn(["config", key], value);
        fs.writeFileSync(file, doc.toString());
    };

    it("takes the repo's new value where the stack kept the repo's earlier one, keeps the stack's own, and adds new keys", () => {
        const d = dir();
        localProject("local", { dir: d });
        const repoPort = read(d)["gatehouse:localAppPort"];
        // As if the repo earlier said 9000 for the port and listed one secret: the stack still has both from then.
        const last = path.join(d, ".Pulumi.local.template.yaml");
        edit(last, "gatehouse:localAppPort", 9000);
        edit(path.join(d, "Pulumi.local.yaml"), "gatehouse:localAppPort", "9000");
        // The operator changed the bake window; the repo did not.
        edit(path.join(d, "Pulumi.local.yaml"), "gatehouse:bakeSeconds", "5");
        const notes: string[] = [];
        localProject("local", { dir: d, notes: (l) => notes.push(l) });
        assert.equal(String(read(d)["gatehouse:localAppPort"]), String(repoPort));
        assert.equal(String(read(d)["gatehouse:bakeSeconds"]), "5");
        assert.deepEqual(notes, ["gatehouse:localAppPort: took the repo's new value from Pulumi.local.yaml (the stack had the repo's earlier one)"]);
    });

    it("from a stack file made before the merge record existed, keeps what differs and says how to take the repo's", () => {
        const d = dir();
        localProject("local", { dir: d });
        fs.rmSync(path.join(d, ".Pulumi.local.template.yaml"));
        edit(path.join(d, "Pulumi.local.yaml"), "gatehouse:backendSecrets", ["JWT_SECRET"]);
        const notes: string[] = [];
        localProject("local", { dir: d, notes: (l) => notes.push(l) });
        assert.deepEqual(read(d)["gatehouse:backendSecrets"], ["JWT_SECRET"]);
        assert.equal(notes.length, 1);
        assert.match(notes[0], /^gatehouse:backendSecrets: the stack keeps \["JWT_SECRET"\]; the repo's Pulumi\.local\.yaml says \["JWT_SECRET","KIFU_ENC_KEY"\]\. To take the repo's: npm run pulumi -- config rm --stack local gatehouse:backendSecrets, then up:local again$/);
        // Removed as the note says, the next merge adds the repo's value.
        const doc = YAML.parseDocument(fs.readFileSync(path.join(d, "Pulumi.local.yaml"), "utf8"));
        doc.deleteIn(["config", "gatehouse:backendSecrets"]);
        fs.writeFileSync(path.join(d, "Pulumi.local.yaml"), doc.toString());
        localProject("local", { dir: d });
        assert.deepEqual(read(d)["gatehouse:backendSecrets"], ["JWT_SECRET", "KIFU_ENC_KEY"]);
    });
});
