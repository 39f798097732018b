# tests/tutorial_code.cmake - the code blocks of docs/tutorial.md (a cmake -P script, run by the
# targets and tests of tests/tutorial.cmake).
#
# The tutorial's convention, said at its top: a block fenced ```c (nothing after the c) is a
# piece of the tutorial's program, and all of them, in order, are its one translation unit; a
# block fenced ```c <path> is an excerpt of the repository's file <path>. Blocks in any other
# language (```sh, ```console) are not code to check. Fences start a line.
#
#   cmake -DMARKDOWN=<md> -DPROGRAM=<file.c> -P tutorial_code.cmake
#       writes the program: each block behind a #line naming its place in <md>, so that a
#       compiler's message points into the tutorial
#   cmake -DMARKDOWN=<md> -DSOURCE_DIR=<repository> -P tutorial_code.cmake
#       checks that each excerpt is still in the file it names, to the character
#
# The text is walked with string(FIND) on quoted strings, never split into a list: C code is
# full of the semicolons a CMake list would split at.
cmake_minimum_required(VERSION 3.25) # a script's policies are otherwise CMake 2's

if(NOT MARKDOWN OR (NOT PROGRAM AND NOT SOURCE_DIR))
    message(FATAL_ERROR "usage: cmake -DMARKDOWN=<md> (-DPROGRAM=<out.c> | -DSOURCE_DIR=<dir>) -P ${CMAKE_SCRIPT_MODE_FILE}")
endif()

# The number of lines `text` holds (its newlines).
function(count_newlines text out)
    string(REGEX REPLACE "[^\n]" "" newlines "${text}")
    string(LENGTH "${newlines}" n)
    set(${out} ${n} PARENT_SCOPE)
endfunction()

file(READ "${MARKDOWN}" rest)
file(RELATIVE_PATH md_name "${CMAKE_CURRENT_LIST_DIR}/.." "${MARKDOWN}")
set(line 1)             # the line of the tutorial at which `rest` starts
set(program "/* Extracted from ${md_name} by tests/tutorial_code.cmake: edit the tutorial. */\n")
set(program_blocks 0)
set(excerpts 0)
set(failures "")
while(TRUE)
    # The next opening fence of a C block: "```c" then a newline or a space.
    string(FIND "${rest}" "\n```c" at)
    if(at EQUAL -1)
        break()
    endif()
    math(EXPR skip "${at} + 5")
    string(SUBSTRING "${rest}" 0 ${skip} before)
    string(SUBSTRING "${rest}" ${skip} -1 rest)
    count_newlines("${before}" n)
    math(EXPR line "${line} + ${n}")
    string(FIND "${rest}" "\n" eol)
    string(SUBSTRING "${rest}" 0 ${eol} info)
    math(EXPR eol "${eol} + 1")
    string(SUBSTRING "${rest}" ${eol} -1 rest)
    math(EXPR line "${line} + 1") # the block's first line
    if(NOT info STREQUAL "" AND NOT info MATCHES "^ ")
        continue() # ```cmake, ```console: another language
    endif()

    # The body runs to the closing fence, a line of its own.
    string(FIND "${rest}" "\n```\n" close)
    if(close EQUAL -1)
        message(FATAL_ERROR "${md_name}:${line}: a ```c block is never closed")
    endif()
    math(EXPR body_length "${close} + 1")
    string(SUBSTRING "${rest}" 0 ${body_length} body)
    math(EXPR after "${close} + 5")
    string(SUBSTRING "${rest}" ${after} -1 rest)

    if(info STREQUAL "")
        string(APPEND program "#line ${line} \"${md_name}\"\n${body}")
        math(EXPR program_blocks "${program_blocks} + 1")
    elseif(SOURCE_DIR)
        string(STRIP "${info}" path)
        math(EXPR excerpts "${excerpts} + 1")
        string(STRIP "${body}" stripped)
        if(stripped STREQUAL "")
            string(APPEND failures "${md_name}:${line}: the excerpt of ${path} is empty\n")
        elseif(NOT EXISTS "${SOURCE_DIR}/${path}")
            string(APPEND failures "${md_name}:${line}: the excerpt names ${path}, which does not exist\n")
        else()
            file(READ "${SOURCE_DIR}/${path}" source)
            string(FIND "${source}" "${body}" found)
            if(found EQUAL -1)
                string(REGEX MATCH "^[^\n]*" first "${body}")
                string(APPEND failures
                    "${md_name}:${line}: this excerpt is no longer in ${path}: ${first}\n")
            endif()
        endif()
    endif()
    count_newlines("${body}" n)
    math(EXPR line "${line} + ${n} + 1")
endwhile()

if(PROGRAM)
    if(program_blocks EQUAL 0)
        message(FATAL_ERROR "${md_name}: no ```c block: the tutorial has no program")
    endif()
    file(WRITE "${PROGRAM}" "${program}")
else()
    if(failures)
        message(FATAL_ERROR "${failures}")
    endif()
    message(STATUS "${md_name}: ${excerpts} excerpts, each still in the file it names")
endif()
