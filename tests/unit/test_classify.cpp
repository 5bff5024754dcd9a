// The answer table of shared/koophone-api.md, row by row.
#include <gtest/gtest.h>

#include "koorelease/classify.hpp"

namespace koorelease {
namespace {

verdict judge(unsigned status, std::string_view code) {
    api_body body{code, "message"};
    return classify(status, &body).what;
}

verdict judge_without_body(unsigned status) { return classify(status, nullptr).what; }

TEST(Classify, SuccessNeedsStatus200AndCodeZero) {
    EXPECT_EQ(judge(200, "0"), verdict::released);
    EXPECT_NE(judge(201, "0"), verdict::released);
    EXPECT_NE(judge(500, "0"), verdict::released);
    EXPECT_EQ(judge(500, "0"), verdict::retry);  // judged by the status when the code is "0"
    EXPECT_NE(judge_without_body(200), verdict::released);
}

TEST(Classify, BusinessErrorsFailTheIdWithoutRetryAtAnyStatus) {
    for (std::string_view code : {"KOOPHONE.API.1000", "KOOPHONE.API.1001", "KOOPHONE.API.1002",
                                  "KOOPHONE.API.0002", "KOOPHONE.API.0000", "KOOPHONE.API.0004",
                                  "KOOPHONE.API.1004", "KOOPHONE.API.4001", "KOOPHONE.API.7777"}) {
        for (unsigned status : {200u, 400u, 401u, 403u, 404u, 500u, 503u}) {
            EXPECT_EQ(judge(status, code), verdict::failed) << code << " at " << status;
        }
    }
}

TEST(Classify, BusinessErrorsHaveTheirMeaningAsReason) {
    api_body body{"KOOPHONE.API.4001", ""};
    EXPECT_EQ(classify(200, &body).reason, "instance does not exist");
    body.error_code = "KOOPHONE.API.1001";
    EXPECT_EQ(classify(401, &body).reason, "insufficient instance permissions");
    body.error_code = "KOOPHONE.API.1000";
    EXPECT_EQ(classify(400, &body).reason, "request parameter incorrect");
}

TEST(Classify, InternalErrorIsRetried) {
    EXPECT_EQ(judge(500, "KOOPHONE.API.9999"), verdict::retry);
    EXPECT_EQ(judge(200, "KOOPHONE.API.9999"), verdict::retry);
}

TEST(Classify, GatewayErrorsWithoutAKnownBodyAreRetried) {
    for (unsigned status : {500u, 502u, 503u, 504u}) {
        EXPECT_EQ(judge_without_body(status), verdict::retry) << status;
        EXPECT_EQ(judge(status, "APIG.0201"), verdict::retry) << status;
    }
}

TEST(Classify, OtherServerErrorsAreNotRetried) {
    EXPECT_EQ(judge_without_body(501), verdict::failed);
    EXPECT_EQ(judge_without_body(505), verdict::failed);
}

TEST(Classify, ThrottlingByCodeOrStatus) {
    EXPECT_EQ(judge(429, "APIG.0308"), verdict::throttled);
    EXPECT_EQ(judge(200, "APIG.0308"), verdict::throttled);
    EXPECT_EQ(judge_without_body(429), verdict::throttled);
    EXPECT_EQ(judge(429, "SOMETHING.ELSE"), verdict::throttled);
}

TEST(Classify, TokenRejections) {
    EXPECT_EQ(judge(401, "APIG.0301"), verdict::token_rejected);
    EXPECT_EQ(judge(401, "APIG.0307"), verdict::token_rejected);
    EXPECT_EQ(judge(200, "APIG.0307"), verdict::token_rejected);
    EXPECT_EQ(judge_without_body(401), verdict::token_rejected);
    // 1001 is about the instance's permissions, not the token (older table: at 401).
    EXPECT_EQ(judge(401, "KOOPHONE.API.1001"), verdict::failed);
}

TEST(Classify, A200WithoutTheExpectedJsonIsRetried) {
    EXPECT_EQ(judge_without_body(200), verdict::retry);
}

TEST(Classify, UnknownCodesOn200AreFailuresNeverSuccesses) {
    EXPECT_EQ(judge(200, "common.00000400"), verdict::failed);
    EXPECT_EQ(judge(200, "KPAPI.0001"), verdict::failed);
    EXPECT_EQ(judge(200, ""), verdict::failed);
}

TEST(Classify, ClientErrorsAndRedirectsFail) {
    EXPECT_EQ(judge_without_body(400), verdict::failed);
    EXPECT_EQ(judge_without_body(403), verdict::failed);
    EXPECT_EQ(judge_without_body(404), verdict::failed);
    EXPECT_EQ(judge_without_body(301), verdict::failed);
    EXPECT_EQ(judge_without_body(100), verdict::failed);
    EXPECT_NE(classify(404, nullptr).reason.find("--endpoint"), std::string_view::npos);
}

TEST(Classify, OnlyALostRequestOnAReusedConnectionIsFree) {
    EXPECT_FALSE(counts_as_attempt(transport_failure::connection_lost, true, 0));
    EXPECT_TRUE(counts_as_attempt(transport_failure::connection_lost, false, 0));
    EXPECT_TRUE(counts_as_attempt(transport_failure::timeout, true, 0));
    EXPECT_TRUE(counts_as_attempt(transport_failure::malformed_answer, true, 0));
    EXPECT_TRUE(counts_as_attempt(transport_failure::timeout, false, 0));
}

TEST(Classify, TheFreeResendIsCappedPerId) {
    for (std::uint32_t n = 0; n < max_free_resends; ++n) {
        EXPECT_FALSE(counts_as_attempt(transport_failure::connection_lost, true, n)) << n;
    }
    EXPECT_TRUE(counts_as_attempt(transport_failure::connection_lost, true, max_free_resends));
    EXPECT_TRUE(counts_as_attempt(transport_failure::connection_lost, true, max_free_resends + 1));
}

}  // namespace
}  // namespace koorelease
