// Checksums of a directory's files, computed in a busybox container: the pipeline of
// ../rust/src/lib.rs, written against wit-bindgen's C bindings of tanto:core@0.2.0's
// `module` world (generated into build/ by build.sh).
//
// Ownership follows wit-bindgen's C conventions: an export owns its parameters (and
// frees them); what it writes to `ret` or `err` is freed by the generated post-return
// function, so every string in them is heap-allocated; an import borrows its parameters.

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

#define MODULE "checksums"
#define FUNCTION "checksums"

// Every file's checksum, one `CHECKSUM  ./PATH` line per file, sorted by path. `$0` is
// the checksum program, passed as an argument rather than spliced into the script; a
// name with spaces is one argument (one line of `find` is one path).
static const char SCRIPT[] = "find . -type f | sort | while IFS= read -r file; do \"$0\" \"$file\" || exit; done";

typedef tanto_core_types_own_container_t container_t;

static void *allocate(size_t count, size_t size) {
  void *memory = calloc(count, size);
  if (memory == NULL) abort();
  return memory;
}

static bool equals(const module_string_t *text, const char *literal) {
  return text->len == strlen(literal) && memcmp(text->ptr, literal, text->len) == 0;
}

// Fails the call with the error `tag` (a string variant) and a formatted message.
__attribute__((format(printf, 3, 4)))
static bool fail(tanto_core_types_error_t *err, uint8_t tag, const char *format, ...) {
  char message[512];
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(message, sizeof message, format, arguments);
  va_end(arguments);
  err->tag = tag;
  // Every string variant of `error` sits at the same place in the union.
  module_string_dup(&err->val.failed, message);
  return false;
}

static void drop_handle(uint8_t tag, const tanto_core_types_value_t *value) {
  switch (tag) {
    case TANTO_CORE_TYPES_VALUE_CONTAINER: tanto_core_types_container_drop_own(value->val.container); break;
    case TANTO_CORE_TYPES_VALUE_DIRECTORY: tanto_core_types_directory_drop_own(value->val.directory); break;
    case TANTO_CORE_TYPES_VALUE_FILE: tanto_core_types_file_drop_own(value->val.file); break;
    case TANTO_CORE_TYPES_VALUE_SECRET: tanto_core_types_secret_drop_own(value->val.secret); break;
    case TANTO_CORE_TYPES_VALUE_SERVICE: tanto_core_types_service_drop_own(value->val.service); break;
  }
}

// Drops the handles the generated `_free` functions leave alone (they free memory only).
static void drop_handles(const tanto_core_types_value_t *value) {
  if (value->tag != TANTO_CORE_TYPES_VALUE_LIST) {
    drop_handle(value->tag, value);
    return;
  }
  for (size_t i = 0; i < value->val.list.len; i++) {
    const tanto_core_types_item_t *item = &value->val.list.ptr[i];
    // An item's tags are those of `value` less one (`value` starts with `none`).
    tanto_core_types_value_t as_value = {.tag = (uint8_t)(item->tag + 1)};
    memcpy(&as_value.val, &item->val, sizeof item->val);
    drop_handle(as_value.tag, &as_value);
  }
}

static container_t then(container_t previous, container_t next) {
  tanto_core_types_container_drop_own(previous);
  return next;
}

// checksums(source: directory, algorithm: string = "sha256") -> string
static bool checksums(const exports_tanto_core_guest_list_tuple2_string_value_t *arguments,
                      tanto_core_types_value_t *ret, tanto_core_types_error_t *err) {
  const tanto_core_types_value_t *source = NULL;
  const tanto_core_types_value_t *algorithm = NULL;
  for (size_t i = 0; i < arguments->len; i++) {
    const module_string_t *name = &arguments->ptr[i].f0;
    const tanto_core_types_value_t *value = &arguments->ptr[i].f1;
    const tanto_core_types_value_t **slot = equals(name, "source") ? &source : equals(name, "algorithm") ? &algorithm : NULL;
    if (slot == NULL) {
      return fail(err, TANTO_CORE_TYPES_ERROR_INVALID_ARGUMENT, "function `" FUNCTION "` has no argument `%.*s`; it takes: source, algorithm",
                  (int)name->len, (const char *)name->ptr);
    }
    if (*slot != NULL) {
      return fail(err, TANTO_CORE_TYPES_ERROR_INVALID_ARGUMENT, "function `" FUNCTION "`: argument `%.*s` is given more than once",
                  (int)name->len, (const char *)name->ptr);
    }
    if (value->tag != TANTO_CORE_TYPES_VALUE_NONE) *slot = value;
  }
  if (source == NULL) {
    return fail(err, TANTO_CORE_TYPES_ERROR_INVALID_ARGUMENT, "function `" FUNCTION "`: missing required argument `source`");
  }
  if (source->tag != TANTO_CORE_TYPES_VALUE_DIRECTORY) {
    return fail(err, TANTO_CORE_TYPES_ERROR_INVALID_ARGUMENT, "function `" FUNCTION "`: argument `source`: expected a directory");
  }
  if (algorithm != NULL && algorithm->tag != TANTO_CORE_TYPES_VALUE_STRING) {
    return fail(err, TANTO_CORE_TYPES_ERROR_INVALID_ARGUMENT, "function `" FUNCTION "`: argument `algorithm`: expected a string");
  }
  char program[64];
  if (algorithm == NULL) {
    snprintf(program, sizeof program, "sha256sum");
  } else if (algorithm->val.string.len > sizeof program - sizeof "sum") {
    return fail(err, TANTO_CORE_TYPES_ERROR_INVALID_ARGUMENT, "function `" FUNCTION "`: argument `algorithm`: too long");
  } else {
    snprintf(program, sizeof program, "%.*ssum", (int)algorithm->val.string.len, (const char *)algorithm->val.string.ptr);
  }

  module_string_t image, src, sh, dash_c, script, sum;
  module_string_set(&image, "busybox:latest");
  module_string_set(&src, "/src");
  module_string_set(&sh, "sh");
  module_string_set(&dash_c, "-c");
  module_string_set(&script, SCRIPT);
  module_string_set(&sum, program);
  module_string_t command[] = {sh, dash_c, script, sum};
  module_list_string_t args = {command, 4};
  module_list_string_t none = {NULL, 0};
  tanto_core_types_exec_options_t options = {.expect = TANTO_CORE_TYPES_EXPECT_SUCCESS, .stdin_ = {.is_some = false}, .use_entrypoint = false};

  container_t container = tanto_core_client_container();
  container = then(container, tanto_core_types_method_container_from(tanto_core_types_borrow_container(container), &image));
  container = then(container, tanto_core_types_method_container_with_directory(tanto_core_types_borrow_container(container), &src,
                                                                                tanto_core_types_borrow_directory(source->val.directory), &none, &none, NULL));
  container = then(container, tanto_core_types_method_container_with_workdir(tanto_core_types_borrow_container(container), &src));
  container = then(container, tanto_core_types_method_container_with_exec(tanto_core_types_borrow_container(container), &args, &options));
  module_string_t out;
  bool ok = tanto_core_types_method_container_stdout(tanto_core_types_borrow_container(container), &out, err);
  tanto_core_types_container_drop_own(container);
  if (ok) {
    ret->tag = TANTO_CORE_TYPES_VALUE_STRING;
    ret->val.string = out;
  }
  return ok;
}

void exports_tanto_core_guest_describe(exports_tanto_core_guest_module_schema_t *ret) {
  exports_tanto_core_guest_argument_t *arguments = allocate(2, sizeof *arguments);
  module_string_dup(&arguments[0].name, "source");
  module_string_dup(&arguments[0].description, "the directory whose files are summed");
  arguments[0].type = (tanto_core_types_type_ref_t){.kind = TANTO_CORE_TYPES_TYPE_KIND_DIRECTORY};
  module_string_dup(&arguments[1].name, "algorithm");
  module_string_dup(&arguments[1].description, "md5, sha1, sha256 or sha512");
  arguments[1].type = (tanto_core_types_type_ref_t){.kind = TANTO_CORE_TYPES_TYPE_KIND_STRING};
  arguments[1].default_value.is_some = true;
  module_string_dup(&arguments[1].default_value.val, "\"sha256\"");

  exports_tanto_core_guest_function_t *function = allocate(1, sizeof *function);
  module_string_dup(&function->name, FUNCTION);
  module_string_dup(&function->description,
                    "The checksum of every file of `source`, as busybox's `<algorithm>sum` prints it,\nsorted by path.");
  function->arguments = (exports_tanto_core_guest_list_argument_t){arguments, 2};
  function->return_type = (tanto_core_types_type_ref_t){.kind = TANTO_CORE_TYPES_TYPE_KIND_STRING};

  module_string_dup(&ret->name, MODULE);
  module_string_dup(&ret->description, "Checksums of a directory's files.");
  ret->functions = (exports_tanto_core_guest_list_function_t){function, 1};
  // No constructor: the module's object has nothing to be made from.
  ret->constructor = (exports_tanto_core_guest_list_argument_t){NULL, 0};
}

bool exports_tanto_core_guest_invoke(exports_tanto_core_guest_list_tuple2_string_value_t *constructor_arguments,
                                     module_string_t *function, exports_tanto_core_guest_list_tuple2_string_value_t *arguments,
                                     exports_tanto_core_guest_value_t *ret, exports_tanto_core_guest_error_t *err) {
  bool ok;
  if (constructor_arguments->len > 0) {
    ok = fail(err, TANTO_CORE_TYPES_ERROR_INVALID_ARGUMENT, "module `" MODULE "` has no constructor arguments");
  } else if (equals(function, FUNCTION)) {
    ok = checksums(arguments, ret, err);
  } else {
    ok = fail(err, TANTO_CORE_TYPES_ERROR_NOT_FOUND, "module `" MODULE "` has no function `%.*s`; it offers: " FUNCTION,
              (int)function->len, (const char *)function->ptr);
  }
  for (size_t i = 0; i < arguments->len; i++) drop_handles(&arguments->ptr[i].f1);
  exports_tanto_core_guest_list_tuple2_string_value_free(arguments);
  for (size_t i = 0; i < constructor_arguments->len; i++) drop_handles(&constructor_arguments->ptr[i].f1);
  exports_tanto_core_guest_list_tuple2_string_value_free(constructor_arguments);
  module_string_free(function);
  return ok;
}
