// The llmopt program: one name, subcommands in the style of git.
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
    std::fprintf(stderr, "usage: llmopt <command> [options]\n");
    return argc > 1 && std::strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
