import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { echo } from "./harness/mocks";
import { runStack } from "./harness/program";

// The harness is what every other test trusts; these pin that it can fail.

class Thing extends pulumi.CustomResource {
    constructor(name: string, args: Record<string, pulumi.Input<any>>, opts?: pulumi.CustomResourceOptions) {
        super("test:index:Thing", name, args, opts);
    }
}

describe("test harness", () => {
    it("fails the run when a registration fails, even if nothing awaits the resource", async () => {
        const failing = async (args: pulumi.runtime.MockResourceArgs) => {
            if (args.name === "bad") throw new Error("engine refused bad");
            return args.inputs;
        };
        await assert.rejects(
            runStack("prod", {
                answer: failing,
                program: async () => {
                    new Thing("good", {});
                    new Thing("bad", {});
                    return {};
                },
            }),
            /test:index:Thing bad: engine refused bad/,
        );
    });

    it("fails the run when an input of an unawaited resource rejects", async () => {
        await assert.rejects(
            runStack("prod", {
                program: async () => {
                    new Thing("broken", { value: pulumi.output(Promise.reject(new Error("input blew up"))) });
                    return {};
                },
            }),
            /input blew up/,
        );
    });

    it("makes a dependent wait for an asynchronous answer, so order is observable", async () => {
        const run = await runStack("prod", {
            answer: echo(30),
            program: async () => {
                const first = new Thing("first", {});
                const second = new Thing("second", { after: first.id });
                new Thing("third", {}, { dependsOn: [second] });
                return {};
            },
        });
        const [first, second, third] = ["first", "second", "third"].map((n) => run.get("test:index:Thing", n));
        assert.ok(second.start >= first.end!, `second started at ${second.start} before first ended at ${first.end}`);
        assert.ok(third.start >= second.end!, `third started at ${third.start} before second ended at ${second.end}`);
    });

    it("runs the program fresh each time: a second run records only its own registrations", async () => {
        const a = await runStack("prod");
        const b = await runStack("prod");
        assert.equal(a.registrations.length, b.registrations.length);
        assert.ok(b.registrations.length > 0);
    });
});
