// Typed exceptions thrown at library boundaries; front ends turn them into exit codes / HTTP codes.
#pragma once

#include <stdexcept>
#include <string>

namespace llmopt {

// Base of every error the library reports about its input.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A model or data file that is missing, truncated, malformed or unsupported.
class FormatError : public Error {
public:
    using Error::Error;
};

// A request or parameter out of range (prompt too long, unknown flag value, bad JSON field).
class InputError : public Error {
public:
    using Error::Error;
};

}  // namespace llmopt
