# tests/tutorial.cmake - docs/tutorial.md's code, built and tested (included at the end of
# tests/CMakeLists.txt).
#
# The tutorial's blocks fenced ```c are one program; those fenced ```c <path> are excerpts of
# <path> (tests/tutorial_code.cmake says the convention in full). Here:
#   target cio_tutorial  <build>/tests/tutorial: the program, extracted at build time into
#                        <build>/tests/tutorial.c, compiled as strict C11 (no _GNU_SOURCE,
#                        -Wpedantic, the project's warnings) and linked to libcio.so, so that
#                        it uses only what an installed cio gives a user
#   tutorial_builds      builds that target (the build is the test, as headers_standalone's)
#   tutorial_runs        runs it against examples/echo_server (tests/tutorial_run.sh), when the
#                        examples are built
#   tutorial_excerpts    each excerpt is still in the file it names, to the character

set(tutorial_md "${PROJECT_SOURCE_DIR}/docs/tutorial.md")
set(tutorial_c "${CMAKE_CURRENT_BINARY_DIR}/tutorial.c")
set(tutorial_script "${CMAKE_CURRENT_SOURCE_DIR}/tutorial_code.cmake")

add_custom_command(OUTPUT "${tutorial_c}"
    COMMAND "${CMAKE_COMMAND}" "-DMARKDOWN=${tutorial_md}" "-DPROGRAM=${tutorial_c}"
            -P "${tutorial_script}"
    DEPENDS "${tutorial_md}" "${tutorial_script}"
    COMMENT "Extracting the tutorial's program from docs/tutorial.md"
    VERBATIM)
add_executable(cio_tutorial "${tutorial_c}")
set_target_properties(cio_tutorial PROPERTIES
    OUTPUT_NAME tutorial
    RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests")
target_link_libraries(cio_tutorial PRIVATE cio::cio)
cio_target_flags(cio_tutorial)
target_compile_options(cio_tutorial PRIVATE -Wpedantic)

add_test(NAME tutorial_builds
    COMMAND "${CMAKE_COMMAND}" --build "${PROJECT_BINARY_DIR}" --target cio_tutorial
            --config $<CONFIG>)
set_tests_properties(tutorial_builds PROPERTIES LABELS tutorial TIMEOUT ${test_timeout})

if(CIO_BUILD_EXAMPLES)
    add_test(NAME tutorial_runs
        COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/tutorial_run.sh"
                $<TARGET_FILE:cio_tutorial> $<TARGET_FILE:example_echo_server>)
    set_tests_properties(tutorial_runs PROPERTIES LABELS tutorial TIMEOUT ${test_timeout})
    if(test_env)
        set_tests_properties(tutorial_runs PROPERTIES ENVIRONMENT "${test_env}")
    endif()
endif()

add_test(NAME tutorial_excerpts
    COMMAND "${CMAKE_COMMAND}" "-DMARKDOWN=${tutorial_md}" "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}"
            -P "${tutorial_script}")
set_tests_properties(tutorial_excerpts PROPERTIES LABELS tutorial TIMEOUT ${test_timeout})

# examples/timeout_client with no arguments: its deadline must end a read that its own silent
# server never answers (it exits 0 only then, printing the line matched), on each backend (the
# io_uring one through cio_uring_probe, which skips where the kernel refuses io_uring).
if(CIO_BUILD_EXAMPLES)
    add_test(NAME example_timeout_client COMMAND $<TARGET_FILE:example_timeout_client>)
    set(timeout_tests example_timeout_client)
    if(TARGET cio_uring_probe)
        add_test(NAME example_timeout_client_uring
            COMMAND $<TARGET_FILE:cio_uring_probe> $<TARGET_FILE:example_timeout_client>)
        set_tests_properties(example_timeout_client_uring PROPERTIES SKIP_RETURN_CODE 77)
        list(APPEND timeout_tests example_timeout_client_uring)
    endif()
    foreach(t ${timeout_tests})
        set_tests_properties(${t} PROPERTIES LABELS "tutorial;threaded" TIMEOUT ${test_timeout}
            PASS_REGULAR_EXPRESSION "read: timed out after 500 ms"
            FAIL_REGULAR_EXPRESSION "SUMMARY: [A-Za-z]*Sanitizer")
        if(test_env)
            set_tests_properties(${t} PROPERTIES ENVIRONMENT "${test_env}")
        endif()
    endforeach()
endif()
