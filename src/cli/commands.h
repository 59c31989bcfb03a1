// Entry points of the llmopt subcommands; each parses its own flags and returns an exit code.
#pragma once

namespace llmopt::cli {

int run_run(int argc, char** argv);
int run_chat(int argc, char** argv);
int run_tokenize(int argc, char** argv);
int run_detokenize(int argc, char** argv);
int run_inspect(int argc, char** argv);
int run_quantize(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_serve(int argc, char** argv);
int run_loadgen(int argc, char** argv);
int run_synth(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_batch(int argc, char** argv);

}  // namespace llmopt::cli
