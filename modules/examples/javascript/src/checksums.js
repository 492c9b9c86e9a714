// Checksums of a directory's files, computed in a busybox container: the pipeline of
// ../../rust/src/lib.rs, written against componentize-js's bindings of tanto:core@0.2.0's
// `module` world. WIT names are camelCase here, variants are `{ tag, val }` objects, an
// `option` is a value or `undefined`, and a `result` is a return value or a thrown error
// whose `payload` is the WIT error.

import { container } from "tanto:core/client@0.2.0";

const MODULE = "checksums";
const FUNCTION = "checksums";

// Every file's checksum, one `CHECKSUM  ./PATH` line per file, sorted by path. `$0` is
// the checksum program, passed as an argument rather than spliced into the script; a
// name with spaces is one argument (one line of `find` is one path).
const SCRIPT = 'find . -type f | sort | while IFS= read -r file; do "$0" "$file" || exit; done';

// Fails the call with the WIT error `tag` (a string variant) and `message`.
function fail(tag, message) {
  const error = new Error(message);
  error.payload = { tag, val: message };
  return error;
}

function checksums(argumentList) {
  const given = {};
  for (const [name, value] of argumentList) {
    if (name !== "source" && name !== "algorithm") {
      throw fail("invalid-argument", `function \`${FUNCTION}\` has no argument \`${name}\`; it takes: source, algorithm`);
    }
    if (name in given) {
      throw fail("invalid-argument", `function \`${FUNCTION}\`: argument \`${name}\` is given more than once`);
    }
    given[name] = value;
  }
  const source = given.source;
  if (source === undefined || source.tag === "none") {
    throw fail("invalid-argument", `function \`${FUNCTION}\`: missing required argument \`source\``);
  }
  if (source.tag !== "directory") {
    throw fail("invalid-argument", `function \`${FUNCTION}\`: argument \`source\`: expected a directory`);
  }
  let algorithm = "sha256";
  if (given.algorithm !== undefined && given.algorithm.tag !== "none") {
    if (given.algorithm.tag !== "string") {
      throw fail("invalid-argument", `function \`${FUNCTION}\`: argument \`algorithm\`: expected a string`);
    }
    algorithm = given.algorithm.val;
  }
  const stdout = container()
    .from("busybox:latest")
    .withDirectory("/src", source.val, [], [], undefined)
    .withWorkdir("/src")
    .withExec(["sh", "-c", SCRIPT, `${algorithm}sum`], { expect: "success", stdin: undefined, useEntrypoint: false })
    .stdout();
  return { tag: "string", val: stdout };
}

export const guest = {
  describe() {
    return {
      name: MODULE,
      description: "Checksums of a directory's files.",
      functions: [
        {
          name: FUNCTION,
          description: "The checksum of every file of `source`, as busybox's `<algorithm>sum` prints it,\nsorted by path.",
          arguments: [
            {
              name: "source",
              description: "the directory whose files are summed",
              type: { kind: "directory", isList: false, optional: false },
              defaultValue: undefined,
            },
            {
              name: "algorithm",
              description: "md5, sha1, sha256 or sha512",
              type: { kind: "string", isList: false, optional: false },
              defaultValue: '"sha256"',
            },
          ],
          returnType: { kind: "string", isList: false, optional: false },
        },
      ],
      // No constructor: the module's object has nothing to be made from.
      constructor: [],
    };
  },

  invoke(constructorArguments, functionName, argumentList) {
    if (constructorArguments.length > 0) {
      throw fail("invalid-argument", `module \`${MODULE}\` has no constructor arguments`);
    }
    if (functionName === FUNCTION) {
      return checksums(argumentList);
    }
    throw fail("not-found", `module \`${MODULE}\` has no function \`${functionName}\`; it offers: ${FUNCTION}`);
  },
};
