// An error answered over HTTP in OpenAI's shape: a status code and {"error": {message, type,
// param, code}}.
#pragma once

#include <string>

#include "llmopt/util/error.h"

namespace llmopt {

class ApiError : public InputError {
public:
    // `param` names the request field at fault ("" when none); `code` is OpenAI's short
    // machine-readable reason ("" when none). The type follows from the status.
    ApiError(int status, const std::string& message, std::string param = "", std::string code = "");

    int status() const { return status_; }
    const std::string& param() const { return param_; }
    const std::string& code() const { return code_; }
    // "invalid_request_error" for 4xx, "server_error" for 5xx, as OpenAI reports them.
    std::string type() const;
    // The response body (JSON text).
    std::string body() const;

private:
    int status_;
    std::string param_;
    std::string code_;
};

// A 400 naming the field at fault, the error most validation raises.
ApiError bad_field(const std::string& param, const std::string& message);

}  // namespace llmopt
