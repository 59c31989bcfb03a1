// OpenAI-shaped HTTP errors.
#include "llmopt/server/api_error.h"

#include <nlohmann/json.hpp>

namespace llmopt {

ApiError::ApiError(int status, const std::string& message, std::string param, std::string code)
    : InputError(message), status_(status), param_(std::move(param)), code_(std::move(code)) {}

std::string ApiError::type() const {
    if (status_ >= 500) return "server_error";
    return "invalid_request_error";
}

std::string ApiError::body() const {
    using json = nlohmann::ordered_json;
    const json error = {{"message", what()},
                        {"type", type()},
                        {"param", param_.empty() ? json(nullptr) : json(param_)},
                        {"code", code_.empty() ? json(nullptr) : json(code_)}};
    // Messages may quote client bytes that are not UTF-8; replace rather than throw.
    return json{{"error", error}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiError bad_field(const std::string& param, const std::string& message) {
    return ApiError(400, message, param);
}

}  // namespace llmopt
