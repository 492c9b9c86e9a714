// The `__MODULE_NAME__` tanto module, in JavaScript: a component of tanto:core@0.2.0's `module`
// world (wit/tanto.wit), built by componentize-js (`npm run build`).
//
// componentize-js's bindings name WIT items in camelCase; variants are `{ tag, val }`
// objects, an `option` is a value or `undefined`, and an API `result` is a return value or
// a thrown error whose `payload` is the WIT error.

import { container } from "tanto:core/client@0.2.0";

const MODULE = "__MODULE_NAME__";
const DESCRIPTION = "Functions of the __MODULE_NAME__ module.";

// The module's functions: what `tanto functions` lists and `tanto call` runs. Each names
// its arguments with their types (string, boolean, integer, float, container, directory,
// file, secret, service; `list: true`, `optional: true`), their descriptions and, for an
// optional one, a `default` (a JSON literal); `run` gets the arguments by name.
const FUNCTIONS = {
  "container-echo": {
    description: "Returns a container that echoes the given text.",
    arguments: [{ name: "text", type: "string", description: "what to echo" }],
    returns: "container",
    run: ({ text }) => container().from("busybox:latest").withExec(["echo", text], exec()),
  },
  "grep-dir": {
    description: "Returns the lines of the files in `directory` that match `pattern`.",
    arguments: [
      { name: "directory", type: "directory", description: "the files to search" },
      { name: "pattern", type: "string", description: "what to look for (a grep pattern)" },
      { name: "path", type: "string", description: "only search this subfolder", default: '"."' },
    ],
    returns: "string",
    run: ({ directory, pattern, path }) =>
      container()
        .from("busybox:latest")
        .withMountedDirectory("/mnt", directory)
        .withWorkdir("/mnt")
        .withExec(["grep", "-R", pattern, path], exec())
        .stdout(),
  },
};

// The options of a command: it must succeed, with no standard input.
function exec() {
  return { expect: "success", stdin: undefined, useEntrypoint: false };
}

// Below: the `guest` interface tanto calls, made from FUNCTIONS. Nothing to change here.

function fail(tag, message) {
  const error = new Error(message);
  error.payload = { tag, val: message };
  return error;
}

function typeRef(kind, argument = {}) {
  return { kind, isList: Boolean(argument.list), optional: Boolean(argument.optional) };
}

// A value tanto passed, as JavaScript: strings, numbers, booleans, API objects, arrays.
function fromValue(value) {
  if (value.tag === "none") return undefined;
  if (value.tag === "list") return value.val.map((item) => item.val);
  return value.val;
}

// What `run` returned, as a value of the function's return type.
function toValue(kind, result) {
  if (kind === "void" || result === undefined || result === null) return { tag: "none" };
  if (Array.isArray(result)) return { tag: "list", val: result.map((item) => ({ tag: kind, val: item })) };
  return { tag: kind, val: result };
}

export const guest = {
  describe() {
    return {
      name: MODULE,
      description: DESCRIPTION,
      functions: Object.entries(FUNCTIONS).map(([name, fn]) => ({
        name,
        description: fn.description,
        arguments: fn.arguments.map((argument) => ({
          name: argument.name,
          description: argument.description ?? "",
          type: typeRef(argument.type, argument),
          defaultValue: argument.default,
        })),
        returnType: typeRef(fn.returns ?? "void"),
      })),
      constructor: [],
    };
  },

  invoke(constructorArguments, functionName, argumentList) {
    if (constructorArguments.length > 0) {
      throw fail("invalid-argument", `module \`${MODULE}\` has no constructor arguments`);
    }
    const fn = FUNCTIONS[functionName];
    if (fn === undefined) {
      const offered = Object.keys(FUNCTIONS).join(", ");
      throw fail("not-found", `module \`${MODULE}\` has no function \`${functionName}\`; it offers: ${offered}`);
    }
    const given = {};
    for (const [name, value] of argumentList) {
      const argument = fn.arguments.find((argument) => argument.name === name);
      if (argument === undefined) {
        const takes = fn.arguments.map((argument) => argument.name).join(", ");
        throw fail("invalid-argument", `function \`${functionName}\` has no argument \`${name}\`; it takes: ${takes}`);
      }
      given[name] = fromValue(value);
    }
    for (const argument of fn.arguments) {
      if (given[argument.name] === undefined && argument.default !== undefined) {
        given[argument.name] = JSON.parse(argument.default);
      } else if (given[argument.name] === undefined && !argument.optional) {
        throw fail("invalid-argument", `function \`${functionName}\`: missing required argument \`${argument.name}\``);
      }
    }
    return toValue(fn.returns ?? "void", fn.run(given));
  },
};
