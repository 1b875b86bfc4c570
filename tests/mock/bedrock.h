/* The mock's Amazon Bedrock Runtime endpoints:
 *
 *   POST .../model/{id}/converse, .../converse-stream           Converse, for any model id
 *   POST .../model/{id}/invoke, .../invoke-with-response-stream  InvokeModel: Claude models
 *        (Anthropic's body with anthropic_version "bedrock-2023-05-31"), Titan Text Embeddings
 *        and Cohere Embed
 *
 * Every request is authenticated as Bedrock does it: a SigV4 signature checked by the mock's own
 * verifier (aws_sigv4.h) against the --aws-key credentials, or a Bedrock API key as a bearer
 * token. Errors come in AWS's shape (x-amzn-ErrorType header, {"message"} body). Streams are AWS
 * event stream frames (es_encode.h). See README.md for the controls. */
#ifndef SLUICE_MOCK_BEDROCK_H
#define SLUICE_MOCK_BEDROCK_H

#include <stdbool.h>

#include <h2o.h>

#include "server.h"

/* True when path (normalised) is one of the endpoints above. */
bool mock_bedrock_route(struct sl_str path);

/* Handles one such request on w's loop thread. Returns 0 (the h2o handler's "handled"). */
int mock_bedrock_handle(struct mock_worker *w, h2o_req_t *req);

#endif
