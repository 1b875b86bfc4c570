#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gemini_req.h"
#include "sluice/base.h"

#define MAX_NAMES 128

struct gv {
    char *err;
    size_t errlen;
    struct gm_request *out;
};

static int fail(struct gv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct gv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->err, v->errlen, fmt, ap);
    va_end(ap);
    return SL_EPARSE;
}

/* Google refuses members its messages do not define. */
static int only(struct gv *v, json_t *o, const char *at, const char *const *names, size_t n)
{
    const char *key;
    json_t *x;
    if (!json_is_object(o))
        return fail(v, "Invalid value at '%s', expected an object.", at);
    json_object_foreach(o, key, x)
    {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(key, names[i]) == 0;
        if (!ok)
            return fail(v,
                        "Invalid JSON payload received. Unknown name \"%.64s\" at '%s': Cannot "
                        "find field.",
                        key, at);
    }
    return SL_OK;
}

static bool is_nonempty_string(json_t *x)
{
    return json_is_string(x) && json_string_length(x) != 0;
}

/* ---- Schema (OpenAPI 3.0 subset) ---- */

static const char *const schema_fields[] = {
    "type",      "format",    "title",      "description", "nullable",      "enum",
    "maxItems",  "minItems",  "properties", "required",    "minProperties", "maxProperties",
    "minLength", "maxLength", "pattern",    "example",     "anyOf",         "propertyOrdering",
    "default",   "items",     "minimum",    "maximum",
};

static bool is_type(const char *t)
{
    static const char *const types[] = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER",
                                        "BOOLEAN",          "ARRAY",  "OBJECT", "NULL"};
    for (size_t i = 0; i < SL_ARRAY_LEN(types); i++)
        if (strcasecmp(t, types[i]) == 0)
            return true;
    return false;
}

static int schema(struct gv *v, json_t *s, const char *at, int depth, bool top_params)
{
    char sub[256];
    json_t *x;
    int rc;
    if (depth > 64)
        return fail(v, "%s: schema nested too deep", at);
    if ((rc = only(v, s, at, schema_fields, SL_ARRAY_LEN(schema_fields))) != SL_OK)
        return rc;
    x = json_object_get(s, "type");
    if (x != NULL && (!json_is_string(x) || !is_type(json_string_value(x))))
        return fail(v,
                    "Invalid value at '%s.type': expected one of STRING, NUMBER, INTEGER, "
                    "BOOLEAN, ARRAY, OBJECT, NULL.",
                    at);
    x = json_object_get(s, "enum");
    if (x != NULL) {
        size_t i;
        json_t *e;
        if (!json_is_array(x))
            return fail(v, "Invalid value at '%s.enum': expected a list of strings.", at);
        json_array_foreach(x, i, e) if (!json_is_string(e)) return fail(
            v, "Invalid value at '%s.enum[%zu]' (TYPE_STRING), %s", at, i, "not a string");
    }
    json_t *props = json_object_get(s, "properties");
    const char *type = json_string_value(json_object_get(s, "type"));
    if (top_params && type != NULL && strcasecmp(type, "OBJECT") == 0 &&
        (props == NULL || json_object_size(props) == 0))
        return fail(v,
                    "* GenerateContentRequest.%s.properties: should be non-empty for OBJECT "
                    "type",
                    at);
    if (props != NULL) {
        const char *k;
        json_t *p;
        if (!json_is_object(props))
            return fail(v, "Invalid value at '%s.properties': expected an object.", at);
        json_object_foreach(props, k, p)
        {
            snprintf(sub, sizeof(sub), "%s.properties[%.32s]", at, k);
            if ((rc = schema(v, p, sub, depth + 1, false)) != SL_OK)
                return rc;
        }
    }
    if ((x = json_object_get(s, "items")) != NULL) {
        snprintf(sub, sizeof(sub), "%.200s.items", at);
        if ((rc = schema(v, x, sub, depth + 1, false)) != SL_OK)
            return rc;
    }
    if ((x = json_object_get(s, "anyOf")) != NULL) {
        size_t i;
        json_t *e;
        if (!json_is_array(x))
            return fail(v, "Invalid value at '%s.anyOf': expected a list.", at);
        json_array_foreach(x, i, e)
        {
            snprintf(sub, sizeof(sub), "%.200s.anyOf[%zu]", at, i);
            if ((rc = schema(v, e, sub, depth + 1, false)) != SL_OK)
                return rc;
        }
    }
    x = json_object_get(s, "required");
    if (x != NULL && !json_is_array(x))
        return fail(v, "Invalid value at '%s.required': expected a list.", at);
    return SL_OK;
}

/* ---- contents ---- */

static const char *const part_fields[] = {
    "text",           "inlineData",          "fileData", "functionCall",     "functionResponse",
    "executableCode", "codeExecutionResult", "thought",  "thoughtSignature", "videoMetadata",
};
static const char *const data_fields[] = {
    "text",           "inlineData",         "fileData", "functionCall", "functionResponse",
    "executableCode", "codeExecutionResult"};

/* Function calls of the previous model turn, for the next turn's responses. */
struct calls {
    size_t n;
    const char *name[MAX_NAMES];
    const char *id[MAX_NAMES];
};

static int blob(struct gv *v, json_t *b, const char *at, bool file)
{
    static const char *const inline_fields[] = {"mimeType", "data", "displayName"};
    static const char *const file_fields[] = {"mimeType", "fileUri", "displayName"};
    int rc = only(v, b, at, file ? file_fields : inline_fields, 3);
    if (rc != SL_OK)
        return rc;
    if (!is_nonempty_string(json_object_get(b, "mimeType")))
        return fail(v, "* GenerateContentRequest.%s.mime_type: a mime type is required", at);
    const char *data = json_string_value(json_object_get(b, file ? "fileUri" : "data"));
    if (data == NULL || data[0] == '\0')
        return fail(v, "* GenerateContentRequest.%s.%s: required", at, file ? "file_uri" : "data");
    for (const char *p = data; !file && *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '/' && *p != '=' && *p != '-' &&
            *p != '_')
            return fail(v, "Invalid value at '%s.data' (TYPE_BYTES), Base64 decoding failed", at);
    return SL_OK;
}

static int call_part(struct gv *v, json_t *c, const char *at, struct calls *made)
{
    static const char *const fields[] = {"name", "args", "id"};
    int rc = only(v, c, at, fields, 3);
    if (rc != SL_OK)
        return rc;
    if (!is_nonempty_string(json_object_get(c, "name")))
        return fail(v, "* GenerateContentRequest.%s.name: Name cannot be empty.", at);
    json_t *args = json_object_get(c, "args");
    if (args != NULL && !json_is_object(args))
        return fail(v, "Invalid value at '%s.args' (type.googleapis.com/google.protobuf.Struct)",
                    at);
    json_t *id = json_object_get(c, "id");
    if (id != NULL && !json_is_string(id))
        return fail(v, "Invalid value at '%s.id' (TYPE_STRING)", at);
    if (made->n == MAX_NAMES)
        return fail(v, "%s: too many function calls in one turn", at);
    made->name[made->n] = json_string_value(json_object_get(c, "name"));
    made->id[made->n++] = id != NULL ? json_string_value(id) : NULL;
    return SL_OK;
}

/* A response must answer a call of the previous turn: the same name, and the same id when the
 * call had one (each call answered once). */
static int response_part(struct gv *v, json_t *r, const char *at, struct calls *prev,
                         bool *answered)
{
    static const char *const fields[] = {"name",  "response",     "id",
                                         "parts", "willContinue", "scheduling"};
    int rc = only(v, r, at, fields, SL_ARRAY_LEN(fields));
    if (rc != SL_OK)
        return rc;
    const char *name = json_string_value(json_object_get(r, "name"));
    const char *id = json_string_value(json_object_get(r, "id"));
    if (name == NULL || name[0] == '\0')
        return fail(v, "* GenerateContentRequest.%s.name: Name cannot be empty.", at);
    if (!json_is_object(json_object_get(r, "response")))
        return fail(v, "* GenerateContentRequest.%s.response: required (a Struct)", at);
    for (size_t i = 0; i < prev->n; i++) {
        if (answered[i] || strcmp(prev->name[i], name) != 0)
            continue;
        if (prev->id[i] != NULL && (id == NULL || strcmp(prev->id[i], id) != 0))
            continue;
        answered[i] = true;
        return SL_OK;
    }
    return fail(v,
                "Please ensure that function response turn comes immediately after a function "
                "call turn, and answers its calls: %s (id %s) has no matching call.",
                at, id != NULL ? id : "none");
}

static int part(struct gv *v, json_t *p, const char *at, bool model, struct calls *made,
                struct calls *prev, bool *answered, size_t *responses)
{
    char sub[160];
    size_t n = 0;
    int rc = only(v, p, at, part_fields, SL_ARRAY_LEN(part_fields));
    if (rc != SL_OK)
        return rc;
    for (size_t i = 0; i < SL_ARRAY_LEN(data_fields); i++)
        n += json_object_get(p, data_fields[i]) != NULL;
    if (n != 1)
        return fail(v,
                    "* GenerateContentRequest.%s.data: required oneof field 'data' must have "
                    "one initialized field",
                    at);
    json_t *x;
    if ((x = json_object_get(p, "text")) != NULL &&
        (!json_is_string(x) || json_string_length(x) == 0))
        return fail(v,
                    "Unable to submit request because it has an empty text parameter. Add a "
                    "value to the parameter and try again. (%s)",
                    at);
    if ((x = json_object_get(p, "thought")) != NULL && !json_is_boolean(x))
        return fail(v, "Invalid value at '%s.thought' (TYPE_BOOL)", at);
    if ((x = json_object_get(p, "inlineData")) != NULL) {
        snprintf(sub, sizeof(sub), "%.140s.inline_data", at);
        return blob(v, x, sub, false);
    }
    if ((x = json_object_get(p, "fileData")) != NULL) {
        snprintf(sub, sizeof(sub), "%.140s.file_data", at);
        return blob(v, x, sub, true);
    }
    if ((x = json_object_get(p, "functionCall")) != NULL) {
        snprintf(sub, sizeof(sub), "%.140s.function_call", at);
        if (!model)
            return fail(v, "%s: a function call must come from the model", sub);
        return call_part(v, x, sub, made);
    }
    if ((x = json_object_get(p, "functionResponse")) != NULL) {
        snprintf(sub, sizeof(sub), "%.140s.function_response", at);
        if (model)
            return fail(v, "%s: a function response must come from the user", sub);
        (*responses)++;
        return response_part(v, x, sub, prev, answered);
    }
    return SL_OK;
}

static int content(struct gv *v, json_t *c, const char *at, bool system, struct calls *prev,
                   struct calls *made)
{
    static const char *const fields[] = {"role", "parts"};
    char sub[160];
    bool answered[MAX_NAMES] = {false};
    size_t i, responses = 0;
    json_t *p;
    int rc = only(v, c, at, fields, 2);
    if (rc != SL_OK)
        return rc;
    const char *role = json_string_value(json_object_get(c, "role"));
    if (!system && (role == NULL || (strcmp(role, "user") != 0 && strcmp(role, "model") != 0)))
        return fail(v, "Please use a valid role: user, model. (%s.role)", at);
    json_t *parts = json_object_get(c, "parts");
    if (!json_is_array(parts) || json_array_size(parts) == 0)
        return fail(v, "* GenerateContentRequest.%s.parts: contents.parts must not be empty.", at);
    bool model = role != NULL && strcmp(role, "model") == 0;
    made->n = 0;
    json_array_foreach(parts, i, p)
    {
        snprintf(sub, sizeof(sub), "%.120s.parts[%zu]", at, i);
        if (system && (json_object_size(p) != 1 || json_object_get(p, "text") == NULL))
            return fail(v, "%s: a system instruction holds text parts only", sub);
        if ((rc = part(v, p, sub, model, made, prev, answered, &responses)) != SL_OK)
            return rc;
    }
    if (responses != 0 && responses != prev->n)
        return fail(v,
                    "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn. (%s: %zu calls, "
                    "%zu responses)",
                    at, prev->n, responses);
    return SL_OK;
}

static int contents(struct gv *v, json_t *cs)
{
    static _Thread_local struct calls prev, made; /* large: kept off the stack */
    char at[64];
    size_t i;
    json_t *c;
    int rc;
    if (!json_is_array(cs) || json_array_size(cs) == 0)
        return fail(v, "* GenerateContentRequest.contents: contents is not specified");
    prev.n = 0;
    json_array_foreach(cs, i, c)
    {
        snprintf(at, sizeof(at), "contents[%zu]", i);
        if ((rc = content(v, c, at, false, &prev, &made)) != SL_OK)
            return rc;
        prev = made;
        v->out->function_calls = made.n;
    }
    return SL_OK;
}

/* ---- tools and config ---- */

static bool valid_function_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 64 || !(isalpha((unsigned char)n[0]) || n[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!isalnum((unsigned char)n[i]) && n[i] != '_' && n[i] != '.' && n[i] != '-' &&
            n[i] != ':')
            return false;
    return true;
}

static int tools(struct gv *v, json_t *ts, const char **names, size_t *nnames)
{
    static const char *const tool_fields[] = {"functionDeclarations", "googleSearch",
                                              "codeExecution", "urlContext",
                                              "googleSearchRetrieval"};
    static const char *const decl_fields[] = {
        "name",     "description",          "parameters",
        "response", "parametersJsonSchema", "responseJsonSchema",
        "behavior"};
    char at[160];
    size_t i, j;
    json_t *t, *d;
    int rc;
    if (!json_is_array(ts))
        return fail(v, "Invalid value at 'tools': expected a list.");
    json_array_foreach(ts, i, t)
    {
        snprintf(at, sizeof(at), "tools[%zu]", i);
        if ((rc = only(v, t, at, tool_fields, SL_ARRAY_LEN(tool_fields))) != SL_OK)
            return rc;
        json_t *decls = json_object_get(t, "functionDeclarations");
        if (decls != NULL && !json_is_array(decls))
            return fail(v, "Invalid value at '%s.function_declarations': expected a list.", at);
        json_array_foreach(decls, j, d)
        {
            snprintf(at, sizeof(at), "tools[%zu].function_declarations[%zu]", i, j);
            if ((rc = only(v, d, at, decl_fields, SL_ARRAY_LEN(decl_fields))) != SL_OK)
                return rc;
            const char *name = json_string_value(json_object_get(d, "name"));
            if (name == NULL || !valid_function_name(name))
                return fail(v,
                            "* GenerateContentRequest.%s.name: Invalid function name. Must "
                            "start with a letter or an underscore...",
                            at);
            if (*nnames < MAX_NAMES)
                names[(*nnames)++] = name;
            json_t *params = json_object_get(d, "parameters");
            if (params != NULL) {
                char sub[200];
                snprintf(sub, sizeof(sub), "%.150s.parameters", at);
                if ((rc = schema(v, params, sub, 0, true)) != SL_OK)
                    return rc;
            }
        }
    }
    return SL_OK;
}

static int tool_config(struct gv *v, json_t *tc, const char *const *names, size_t nnames)
{
    static const char *const fields[] = {"functionCallingConfig", "retrievalConfig"};
    static const char *const fcc_fields[] = {"mode", "allowedFunctionNames"};
    static const char *const modes[] = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"};
    size_t i;
    json_t *n;
    int rc;
    if ((rc = only(v, tc, "tool_config", fields, 2)) != SL_OK)
        return rc;
    json_t *fcc = json_object_get(tc, "functionCallingConfig");
    if (fcc == NULL)
        return SL_OK;
    if ((rc = only(v, fcc, "tool_config.function_calling_config", fcc_fields, 2)) != SL_OK)
        return rc;
    const char *mode = json_string_value(json_object_get(fcc, "mode"));
    bool known = false;
    for (i = 0; mode != NULL && i < SL_ARRAY_LEN(modes); i++)
        known = known || strcmp(mode, modes[i]) == 0;
    if (!known)
        return fail(v,
                    "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis."
                    "com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode)");
    json_t *allowed = json_object_get(fcc, "allowedFunctionNames");
    if (allowed == NULL)
        return SL_OK;
    if (strcmp(mode, "ANY") != 0)
        return fail(v, "* GenerateContentRequest.tool_config.function_calling_config.allowed_"
                       "function_names: only allowed with mode ANY");
    json_array_foreach(allowed, i, n)
    {
        bool found = false;
        for (size_t k = 0; json_is_string(n) && k < nnames && !found; k++)
            found = strcmp(json_string_value(n), names[k]) == 0;
        if (!found)
            return fail(v,
                        "* GenerateContentRequest.tool_config.function_calling_config.allowed_"
                        "function_names[%zu]: not a declared function",
                        i);
    }
    return SL_OK;
}

static int number_in(struct gv *v, json_t *g, const char *name, double lo, double hi, bool integer)
{
    json_t *x = json_object_get(g, name);
    if (x == NULL)
        return SL_OK;
    if (integer ? !json_is_integer(x) : !json_is_number(x))
        return fail(v, "Invalid value at 'generation_config.%s' (%s)", name,
                    integer ? "TYPE_INT32" : "TYPE_FLOAT");
    double d = json_number_value(x);
    if (d < lo || d > hi)
        return fail(v, "* GenerateContentRequest.generation_config.%s: out of range [%g, %g]", name,
                    lo, hi);
    return SL_OK;
}

static int generation_config(struct gv *v, json_t *g)
{
    static const char *const fields[] = {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "thinkingConfig",
        "responseModalities",
        "mediaResolution",
    };
    static const char *const thinking_fields[] = {"thinkingBudget", "includeThoughts",
                                                  "thinkingLevel"};
    int rc;
    if ((rc = only(v, g, "generation_config", fields, SL_ARRAY_LEN(fields))) != SL_OK ||
        (rc = number_in(v, g, "candidateCount", 1, 8, true)) != SL_OK ||
        (rc = number_in(v, g, "maxOutputTokens", 1, 1 << 20, true)) != SL_OK ||
        (rc = number_in(v, g, "temperature", 0, 2, false)) != SL_OK ||
        (rc = number_in(v, g, "topP", 0, 1, false)) != SL_OK ||
        (rc = number_in(v, g, "topK", 1, 1 << 20, true)) != SL_OK ||
        (rc = number_in(v, g, "seed", -2147483648.0, 2147483647.0, true)) != SL_OK ||
        (rc = number_in(v, g, "presencePenalty", -2, 2, false)) != SL_OK ||
        (rc = number_in(v, g, "frequencyPenalty", -2, 2, false)) != SL_OK)
        return rc;
    json_t *stop = json_object_get(g, "stopSequences");
    if (stop != NULL && (!json_is_array(stop) || json_array_size(stop) > 5))
        return fail(v, "* GenerateContentRequest.generation_config.stop_sequences: at most 5");
    const char *mime = json_string_value(json_object_get(g, "responseMimeType"));
    json_t *rs = json_object_get(g, "responseSchema");
    if (rs != NULL) {
        if (mime == NULL || strcmp(mime, "application/json") != 0)
            return fail(v, "* GenerateContentRequest.generation_config.response_mime_type: "
                           "response_schema needs application/json");
        if ((rc = schema(v, rs, "generation_config.response_schema", 0, false)) != SL_OK)
            return rc;
    }
    v->out->json = mime != NULL && strcmp(mime, "application/json") == 0;
    json_t *n = json_object_get(g, "candidateCount");
    if (n != NULL)
        v->out->candidates = (uint64_t)json_integer_value(n);
    json_t *tc = json_object_get(g, "thinkingConfig");
    if (tc != NULL) {
        if ((rc = only(v, tc, "generation_config.thinking_config", thinking_fields, 3)) != SL_OK)
            return rc;
        json_t *b = json_object_get(tc, "thinkingBudget");
        if (b != NULL && (!json_is_integer(b) || json_integer_value(b) < -1))
            return fail(v, "Invalid value at 'generation_config.thinking_config.thinking_budget'");
        v->out->thoughts = json_is_true(json_object_get(tc, "includeThoughts"));
    }
    return SL_OK;
}

static int generate(struct gv *v, json_t *root)
{
    static const char *const fields[] = {
        "contents",       "systemInstruction", "tools",  "toolConfig", "generationConfig",
        "safetySettings", "cachedContent",     "labels", "mock"};
    static _Thread_local struct calls sys_prev, sys_made;
    const char *names[MAX_NAMES];
    size_t nnames = 0;
    json_t *x;
    int rc;
    v->out->candidates = 1;
    if ((rc = only(v, root, "", fields, SL_ARRAY_LEN(fields))) != SL_OK ||
        (rc = contents(v, json_object_get(root, "contents"))) != SL_OK)
        return rc;
    sys_prev.n = 0;
    if ((x = json_object_get(root, "systemInstruction")) != NULL &&
        (rc = content(v, x, "system_instruction", true, &sys_prev, &sys_made)) != SL_OK)
        return rc;
    if ((x = json_object_get(root, "tools")) != NULL && (rc = tools(v, x, names, &nnames)) != SL_OK)
        return rc;
    if ((x = json_object_get(root, "toolConfig")) != NULL &&
        (rc = tool_config(v, x, names, nnames)) != SL_OK)
        return rc;
    if ((x = json_object_get(root, "generationConfig")) != NULL &&
        (rc = generation_config(v, x)) != SL_OK)
        return rc;
    return SL_OK;
}

static int embed(struct gv *v, json_t *root, struct sl_str model)
{
    static const char *const fields[] = {"requests", "mock"};
    static const char *const req_fields[] = {"model", "content", "taskType", "title",
                                             "outputDimensionality"};
    static _Thread_local struct calls none, made;
    char at[64];
    size_t i;
    json_t *r;
    int rc;
    if ((rc = only(v, root, "", fields, 2)) != SL_OK)
        return rc;
    json_t *reqs = json_object_get(root, "requests");
    if (!json_is_array(reqs) || json_array_size(reqs) == 0 || json_array_size(reqs) > 100)
        return fail(v, "* BatchEmbedContentsRequest.requests: between 1 and 100 requests");
    json_array_foreach(reqs, i, r)
    {
        snprintf(at, sizeof(at), "requests[%zu]", i);
        if ((rc = only(v, r, at, req_fields, SL_ARRAY_LEN(req_fields))) != SL_OK)
            return rc;
        const char *m = json_string_value(json_object_get(r, "model"));
        if (m == NULL || !sl_str_eq(sl_str_from_cstr(m), model))
            return fail(v,
                        "* BatchEmbedContentsRequest.%s.model: Model names should start with "
                        "`models/` and match the one in the URL (%.*s)",
                        at, (int)model.len, model.ptr);
        none.n = 0;
        json_t *c = json_object_get(r, "content");
        if (c == NULL)
            return fail(v, "* BatchEmbedContentsRequest.%s.content: required", at);
        if ((rc = content(v, c, at, true, &none, &made)) != SL_OK)
            return rc;
        json_t *d = json_object_get(r, "outputDimensionality");
        if (d != NULL) {
            if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 3072)
                return fail(v,
                            "* BatchEmbedContentsRequest.%s.output_dimensionality: between 1 "
                            "and 3072",
                            at);
            v->out->dimensions = (uint64_t)json_integer_value(d);
        }
    }
    v->out->embeds = json_array_size(reqs);
    return SL_OK;
}

int gm_validate(struct sl_str doc, bool is_embed, struct sl_str model, struct gm_request *out,
                char *err, size_t errlen)
{
    struct gv v = {err, errlen, out};
    json_error_t jerr;
    int rc;
    *out = (struct gm_request){0};
    err[0] = '\0';
    json_t *root = json_loadb(doc.ptr, doc.len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return fail(&v, "Invalid JSON payload received. %s (line %d, column %d)", jerr.text,
                    jerr.line, jerr.column);
    rc = is_embed ? embed(&v, root, model) : generate(&v, root);
    json_decref(root);
    return rc;
}
