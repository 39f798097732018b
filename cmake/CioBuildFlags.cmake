# CioBuildFlags.cmake - the compiler and linker flags every cio target is built with.
#
# cio_target_flags(<target>) adds, privately (nothing leaks into the exported targets):
#   warnings   -Wall -Wextra and the cheap extras below (library, examples and tests alike:
#              Criterion's macros pass them all), and -Werror when CIO_WERROR is ON;
#   sanitizers per CIO_SANITIZE:
#     address  ASan + UBSan, -fno-omit-frame-pointer, -fno-sanitize-recover=undefined
#     thread   TSan, -fno-omit-frame-pointer
#   and -O1 for a sanitized Debug build (CMake's Debug is plain -g: -O1 keeps sanitized tests
#   fast and their stacks readable).
# Both gcc (12) and clang (14) are supported; other compilers get no extra flags.

set(CIO_SANITIZE_VALUES "" address thread)
if(NOT CIO_SANITIZE IN_LIST CIO_SANITIZE_VALUES)
    message(FATAL_ERROR "CIO_SANITIZE must be empty, 'address' or 'thread' (got '${CIO_SANITIZE}')")
endif()

set(CIO_WARNING_FLAGS "")
set(CIO_SANITIZE_FLAGS "")
if(CMAKE_C_COMPILER_ID MATCHES "^(GNU|Clang|AppleClang)$")
    # Prototypes and shadowing (-Wshadow, -Wmissing-prototypes, -Wmissing-declarations,
    # -Wstrict-prototypes, -Wold-style-definition, -Wnested-externs, -Wredundant-decls); a
    # const or a format string lost (-Wcast-qual, -Wwrite-strings, -Wformat=2); and
    # -Wpointer-arith, -Wundef, -Wvla, -Wdouble-promotion, -Wimplicit-fallthrough (not in
    # clang's -Wextra). Left out: -Wnull-dereference (gcc's reports change with the
    # optimisation level) and -Wlogical-op (it flags EAGAIN || EWOULDBLOCK).
    set(CIO_WARNING_FLAGS -Wall -Wextra
        -Wshadow -Wmissing-prototypes -Wmissing-declarations -Wstrict-prototypes
        -Wold-style-definition -Wnested-externs -Wredundant-decls
        -Wcast-qual -Wwrite-strings -Wformat=2
        -Wpointer-arith -Wundef -Wvla -Wdouble-promotion -Wimplicit-fallthrough)
    if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
        list(APPEND CIO_WARNING_FLAGS -Wduplicated-cond)
    endif()
    if(CIO_WERROR)
        list(APPEND CIO_WARNING_FLAGS -Werror)
    endif()
    if(CIO_SANITIZE STREQUAL "address")
        set(CIO_SANITIZE_FLAGS
            -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    elseif(CIO_SANITIZE STREQUAL "thread")
        set(CIO_SANITIZE_FLAGS -fsanitize=thread -fno-omit-frame-pointer)
    endif()
elseif(CIO_SANITIZE)
    message(FATAL_ERROR "CIO_SANITIZE needs gcc or clang (compiler is ${CMAKE_C_COMPILER_ID})")
endif()

function(cio_target_flags target)
    target_compile_options(${target} PRIVATE ${CIO_WARNING_FLAGS} ${CIO_SANITIZE_FLAGS})
    if(CIO_SANITIZE)
        target_compile_options(${target} PRIVATE $<$<CONFIG:Debug>:-O1>)
        get_target_property(type ${target} TYPE)
        if(NOT type STREQUAL "OBJECT_LIBRARY" AND NOT type STREQUAL "STATIC_LIBRARY")
            target_link_options(${target} PRIVATE ${CIO_SANITIZE_FLAGS})
        endif()
    endif()
endfunction()
